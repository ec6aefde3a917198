"""deploy/argocd's Applications against Argo CD's own CRD schema.

``deploy/argocd/crd-check`` runs the validators ``@kubernetes-models/argo-cd`` (npm,
pinned) generates from the ``openAPIV3Schema`` of Argo CD's CRDs, so a field of the wrong
type or a missing required one fails here as ``kubectl apply`` would fail it. The CRD
prunes unknown fields silently; the stricter hand-kept schema in
``deploy/argocd/schema`` (test_manifests.py) catches those.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from typing import Any

import pytest

from tests.deploy.manifests import DEPLOY, render

CHECK = DEPLOY / "argocd" / "crd-check"


def _validate(docs: list[dict[str, Any]]) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    if node is None or not (CHECK / "node_modules").is_dir():
        why = "Node.js and `npm ci` in deploy/argocd/crd-check (scripts/install does it)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"needs {why}")
        pytest.skip(f"needs {why}")
    return subprocess.run(
        [node, str(CHECK / "validate.mjs")],
        input=json.dumps(docs), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_applications_validate_against_argo_cds_crd() -> None:
    apps = [d for d in render(DEPLOY / "argocd") if d["kind"] == "Application"]
    assert apps
    out = _validate(apps)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"checked {len(apps)}, invalid 0" in out.stdout


def test_the_crd_check_refuses_a_broken_application() -> None:
    first = next(d for d in render(DEPLOY / "argocd") if d["kind"] == "Application")
    app = json.loads(json.dumps(first))
    app["spec"]["source"]["repoURL"] = 42
    del app["spec"]["project"]
    out = _validate([app])
    assert out.returncode == 1
    assert "repoURL must be string" in out.stdout or "project" in out.stdout, out.stdout
