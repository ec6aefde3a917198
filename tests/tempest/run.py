"""Run OpenStack's Tempest (pinned in the test extras) against a fresh ``stockyard up``.

    python -m tests.tempest.run [--regex R] [--concurrency N] [--keep DIR]

Starts ``stockyard up`` on a free port, uploads the two images Tempest boots, writes a
Tempest workspace (``tempest.conf.in``), runs ``tempest run`` over ``tempest.api.compute``
and ``tempest.api.image`` minus ``exclusions.txt``, and prints the totals, the pass rate
(passed / (passed + failed); skips don't count) and each failure's last lines.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.e2e.conftest import VENV_BIN, RunningCloud, start_cloud, stop_cloud

HERE = Path(__file__).parent
EXCLUSIONS = HERE / "exclusions.txt"
DEFAULT_REGEX = r"^tempest\.api\.(compute|image)\."
ADMIN_PASSWORD = "tempest-admin-secret"


@dataclass
class TempestResult:
    passed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    returncode: int = 0
    output: str = ""

    @property
    def pass_rate(self) -> float:
        ran = len(self.passed) + len(self.failed)
        return len(self.passed) / ran if ran else 0.0

    def summary(self) -> str:
        lines = [
            f"tempest: {len(self.passed)} passed, {len(self.failed)} failed, "
            f"{len(self.skipped)} skipped; pass rate {self.pass_rate:.1%}"
        ]
        for name, why in sorted(self.failed.items()):
            lines.append(f"FAILED {name}\n    {why}")
        return "\n".join(lines)


def exclusion_lines() -> list[tuple[str, str]]:
    """``(regex, reason)`` for every non-comment line of ``exclusions.txt``."""
    out = []
    for raw in EXCLUSIONS.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        regex, _, reason = line.partition("#")
        out.append((regex.strip(), reason.strip()))
    return out


def _init_workspace(ws: Path) -> None:
    # Tempest records workspaces by name in a registry (~/.tempest by default); a private
    # registry next to the workspace keeps runs from colliding or piling up there.
    subprocess.run(
        [
            str(VENV_BIN / "tempest"),
            "init",
            "--workspace-path",
            str(ws.parent / "tempest-workspaces.yaml"),
            str(ws),
        ],
        check=True,
        capture_output=True,
    )


def list_tests(regex: str = DEFAULT_REGEX) -> list[str]:
    """The ids of the Tempest tests ``regex`` selects (no cloud needed)."""
    with tempfile.TemporaryDirectory(prefix="stockyard-tempest-list-") as tmp:
        ws = Path(tmp) / "ws"
        _init_workspace(ws)
        proc = subprocess.run(
            [str(VENV_BIN / "tempest"), "run", "--list-tests", "--regex", regex],
            cwd=ws,
            capture_output=True,
            text=True,
            check=True,
        )
    return [line.split("[")[0] for line in proc.stdout.splitlines() if line.startswith("tempest.")]


def _prepare(cloud: RunningCloud) -> tuple[str, str, str]:
    """Upload the two images Tempest boots; (image, alt image, max compute microversion)."""
    auth = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {
                        "name": "admin",
                        "domain": {"name": "Default"},
                        "password": ADMIN_PASSWORD,
                    }
                },
            },
            "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}},
        }
    }
    with httpx.Client(base_url=cloud.base_url, timeout=30) as client:
        resp = client.post("/identity/v3/auth/tokens", json=auth)
        resp.raise_for_status()
        headers = {"X-Auth-Token": resp.headers["X-Subject-Token"]}
        ids = []
        for name in ("tempest-image", "tempest-image-alt"):
            body = {
                "name": name,
                "disk_format": "raw",
                "container_format": "bare",
                "visibility": "public",
            }
            image = client.post("/image/v2/images", json=body, headers=headers)
            image.raise_for_status()
            image_id = image.json()["id"]
            upload = client.put(
                f"/image/v2/images/{image_id}/file",
                content=b"\0" * 65536,
                headers={**headers, "Content-Type": "application/octet-stream"},
            )
            upload.raise_for_status()
            ids.append(image_id)
        versions = client.get("/compute/v2.1/", headers=headers).json()
    return ids[0], ids[1], str(versions["version"]["version"])


def _workspace(cloud: RunningCloud, root: Path) -> Path:
    ws = root / "tempest"
    _init_workspace(ws)
    image_ref, image_ref_alt, max_microversion = _prepare(cloud)
    conf = (HERE / "tempest.conf.in").read_text()
    values = {
        "log_dir": str(ws / "logs"),
        "admin_password": ADMIN_PASSWORD,
        "auth_url": f"{cloud.base_url}/identity/v3",
        "image_ref": image_ref,
        "image_ref_alt": image_ref_alt,
        "max_microversion": max_microversion,
    }
    for key, value in values.items():
        conf = conf.replace("{" + key + "}", value)
    (ws / "etc" / "tempest.conf").write_text(conf)
    return ws


def _results(ws: Path) -> TempestResult:
    """Per-test outcomes from the stestr repository (subunit v2)."""
    import subunit  # type: ignore[import-untyped]
    from testtools import StreamToDict  # type: ignore[import-untyped]

    raw = subprocess.run(
        [str(VENV_BIN / "stestr"), "last", "--subunit"], cwd=ws, capture_output=True
    ).stdout
    result = TempestResult()

    def on_test(test: dict) -> None:  # type: ignore[type-arg]
        name = test["id"].split("[")[0]
        status = test["status"]
        if status in ("success", "xfail"):
            result.passed.append(name)
        elif status == "skip":
            result.skipped.append(name)
        elif status in ("fail", "uxsuccess"):
            text = "".join(v.as_text() for k, v in test["details"].items() if "traceback" in k)
            tail = [line for line in text.strip().splitlines() if line.strip()][-2:]
            result.failed[name] = " | ".join(tail)[:500]

    stream = subunit.ByteStreamToStreamResult(io.BytesIO(raw), non_subunit_name="stdout")
    sink = StreamToDict(on_test)
    sink.startTestRun()
    stream.run(sink)
    sink.stopTestRun()
    return result


def run(
    regex: str = DEFAULT_REGEX, concurrency: int = 3, keep: Path | None = None
) -> TempestResult:
    """Start a cloud, run Tempest against it, stop the cloud; the parsed outcome."""
    with tempfile.TemporaryDirectory(prefix="stockyard-tempest-") as tmp:
        root = keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        # start_cloud drops STOCKYARD_* from the environment: the servers Tempest makes
        # are the emulated lab's VMs (the run checks the API, not QEMU).
        cloud = start_cloud(root, {"STOCKYARD_ADMIN_PASSWORD": ADMIN_PASSWORD})
        try:
            ws = _workspace(cloud, root)
            exclude = ws / "exclusions.txt"
            exclude.write_text("\n".join(regex for regex, _ in exclusion_lines()) + "\n")
            proc = subprocess.run(
                [
                    str(VENV_BIN / "tempest"),
                    "run",
                    "--regex",
                    regex,
                    "--exclude-list",
                    str(exclude),
                    "--concurrency",
                    str(concurrency),
                ],
                cwd=ws,
                capture_output=True,
                text=True,
            )
            result = _results(ws)
            result.returncode = proc.returncode
            result.output = proc.stdout[-4000:] + proc.stderr[-4000:]
            return result
        finally:
            stop_cloud(cloud)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regex", default=DEFAULT_REGEX)
    parser.add_argument("--concurrency", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="keep the cloud's and Tempest's files here")
    parser.add_argument("--json", action="store_true", help="print the outcome as JSON")
    args = parser.parse_args()
    result = run(args.regex, args.concurrency, args.keep)
    if args.json:
        print(json.dumps({"passed": result.passed, "failed": result.failed}, indent=1))
    print(result.summary())
    return 0 if not result.failed else 1


if __name__ == "__main__":
    sys.exit(main())
