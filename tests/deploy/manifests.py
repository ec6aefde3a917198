"""Render ``deploy/`` with ``kubectl kustomize`` and read what the manifests say."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
OVERLAYS = sorted(
    p for p in (DEPLOY / "overlays").iterdir() if (p / "kustomization.yaml").is_file()
)
WORKLOADS = ("Deployment", "DaemonSet", "StatefulSet", "Job")

Doc = dict[str, Any]


def require_kubectl() -> str:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        if os.environ.get("CI") == "true":
            pytest.fail("kubectl is not installed (Debian package kubectl)")
        pytest.skip("kubectl is not installed")
    return kubectl


@functools.cache
def render(path: Path) -> tuple[Doc, ...]:
    """The documents ``kubectl kustomize path`` prints."""
    out = subprocess.run(
        [require_kubectl(), "kustomize", str(path)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    if out.returncode != 0:
        raise AssertionError(f"kubectl kustomize {path}: {out.stderr}")
    return tuple(d for d in yaml.safe_load_all(out.stdout) if d)


def workloads(docs: tuple[Doc, ...]) -> Iterator[Doc]:
    return (d for d in docs if d["kind"] in WORKLOADS)


def pod_spec(doc: Doc) -> Doc:
    spec: Doc = doc["spec"]["template"]["spec"]
    return spec


def component(doc: Doc) -> str:
    return str(doc["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"])


def annotations(doc: Doc) -> dict[str, str]:
    return dict(doc["metadata"].get("annotations") or {})


def wave(doc: Doc) -> int:
    return int(annotations(doc).get("argocd.argoproj.io/sync-wave", "0"))


def role_command(doc: Doc) -> list[str]:
    """``command + args`` of a workload's first container."""
    container = pod_spec(doc)["containers"][0]
    return [*container.get("command", []), *container.get("args", [])]
