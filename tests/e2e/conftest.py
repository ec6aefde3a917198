"""End-to-end fixtures: a real ``stockyard up`` process on a free port, driven by the real
``openstack`` CLI and openstacksdk through the clouds.yaml it writes."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

VENV_BIN = Path(sys.executable).parent
# The CLI negotiates the newest compute microversion; from 2.88 hypervisors no longer show
# capacity (vCPUs, memory, used), as Nova. Tests that read capacity ask for 2.87.
CAPACITY = ("--os-compute-api-version", "2.87")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningCloud:
    """A ``stockyard up`` subprocess and helpers to drive it."""

    base_url: str
    data_dir: Path
    clouds_yaml: Path
    proc: subprocess.Popen[bytes]
    log_path: Path

    def env(self, cloud: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        env.update(OS_CLIENT_CONFIG_FILE=str(self.clouds_yaml), OS_CLOUD=cloud)
        return env

    def os(
        self, *args: str, cloud: str = "stockyard-admin", check: bool = True, timeout: float = 180
    ) -> subprocess.CompletedProcess[str]:
        """Run the real ``openstack`` CLI; return the completed process."""
        cmd = [str(VENV_BIN / "openstack"), *args]
        proc = subprocess.run(
            cmd, env=self.env(cloud), capture_output=True, text=True, timeout=timeout
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"openstack {' '.join(args)} failed ({proc.returncode}):\n"
                f"stdout: {proc.stdout}\nstderr: {proc.stderr}\n--- server log tail ---\n"
                f"{self.log_tail()}"
            )
        return proc

    def os_json(self, *args: str, cloud: str = "stockyard-admin") -> Any:
        return json.loads(self.os(*args, "-f", "json", cloud=cloud).stdout)

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text().splitlines()[-lines:])
        except OSError:
            return ""


def start_cloud(tmp: Path, extra_env: dict[str, str] | None = None) -> RunningCloud:
    port = free_port()
    data_dir = tmp / "data"
    log_path = tmp / "stockyard.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOCKYARD_")}
    env.update(
        STOCKYARD_API_PORT=str(port),
        STOCKYARD_DATA_DIR=str(data_dir),
        STOCKYARD_RECONCILE_INTERVAL_SECONDS="1",
    )
    env.update(extra_env or {})
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [str(VENV_BIN / "stockyard"), "up"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp,
    )
    base = f"http://127.0.0.1:{port}"
    # Start-up is ~10 s alone; a CI machine running other jobs was seen to need over 60.
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"stockyard up exited {proc.returncode}:\n{log_path.read_text()}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    else:
        proc.kill()
        raise AssertionError(f"stockyard up did not answer:\n{log_path.read_text()}")
    return RunningCloud(base, data_dir, data_dir / "clouds.yaml", proc, log_path)


def stop_cloud(cloud: RunningCloud) -> None:
    cloud.proc.terminate()
    try:
        cloud.proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        cloud.proc.kill()


@contextlib.contextmanager
def lab_cloud(
    tmp_path_factory: pytest.TempPathFactory,
    name: str,
    lab: dict[str, Any],
    extra_env: dict[str, str] | None = None,
) -> Iterator[RunningCloud]:
    """``stockyard up`` on a lab file of the test's own (schedulers refresh every second)."""
    tmp = tmp_path_factory.mktemp(name)
    path = tmp / "lab.yaml"
    path.write_text(yaml.safe_dump(lab))
    env = {"STOCKYARD_LAB_FILE": str(path), "STOCKYARD_SCHEDULER_REFRESH_SECONDS": "1"}
    cloud = start_cloud(tmp, {**env, **(extra_env or {})})
    try:
        yield cloud
    finally:
        stop_cloud(cloud)


@pytest.fixture(scope="module")
def running_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCloud]:
    if shutil.which("openstack", path=str(VENV_BIN)) is None:
        pytest.fail("the openstack CLI is not installed in the venv (pip install -e '.[test]')")
    cloud = start_cloud(tmp_path_factory.mktemp("cloud"))
    yield cloud
    stop_cloud(cloud)
