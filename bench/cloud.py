"""A ``stockyard up`` subprocess for the benchmarks: start it on a free loopback port, wait
until it answers, stop it. Shared by the benches so that they all start it alike.

Unlike the e2e tests' ``start_cloud`` it keeps the reconciler at its default interval
(a bench measures the cloud as it runs by default) and logs at WARNING only.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml

BIN = Path(sys.executable).parent
ADMIN_PASSWORD = "bench-admin"

# A cloud on the emulated lab that boots instantly and lets a bench create as many servers
# as its lab holds (the default quotas stop at a few).
FAKE_LAB_ENV = {
    "STOCKYARD_ADMIN_PASSWORD": ADMIN_PASSWORD,
    "STOCKYARD_FAKE_BOOT_SECONDS": "0",
    "STOCKYARD_QUOTA_INSTANCES": "100000",
    "STOCKYARD_QUOTA_CORES": "1000000",
    "STOCKYARD_QUOTA_RAM": "1000000000",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (Linux ``/proc``; 0 elsewhere)."""
    fields = _stat(pid)
    if fields is None:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# What a process of ``stockyard up``'s tree is, by its command line.
_ROLES = (
    ("hwmgr", b"stockyard.lab.hwmgr_child"),
    ("redfish emulator", b"_sushy_run"),
    ("ipmi emulator", b"_ipmi_run"),
)


def tree_cpu_seconds(pid: int) -> dict[str, float]:
    """CPU time of ``pid`` (as ``"stockyard up"``, with what its ended children used) and
    of its live descendants, summed by role: hwmgr, the BMC emulators, other."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            parents[int(entry.name)] = int(fields[1])
    tree, grew = {pid}, True
    while grew:
        more = {child for child, parent in parents.items() if parent in tree} - tree
        tree |= more
        grew = bool(more)
    fields = _stat(pid)
    ended = (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK") if fields else 0.0
    out = {"stockyard up": cpu_seconds(pid) + ended}
    for child in tree - {pid}:
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        role = next((name for name, mark in _ROLES if mark in cmdline), "other")
        out[role] = out.get(role, 0.0) + cpu_seconds(child)
    return out


def lab_yaml(path: Path, racks: int, per_rack: int) -> None:
    """A fake lab: 2 AZs of ``racks`` racks of ``per_rack`` roomy hypervisors."""
    rack_list = [{"name": f"r{i}", "hypervisors": per_rack} for i in range(1, racks + 1)]
    doc = {
        "version": 1,
        "fake": {"boot_seconds": 0.0, "fail_spawn": False, "seed": 1},
        "hypervisor_defaults": {"vcpus": 64, "memory_mb": 262144, "local_gb": 4000},
        "regions": [
            {
                "name": "RegionOne",
                "cidr": "10.20.0.0/16",
                "azs": [{"name": "az1", "racks": rack_list}, {"name": "az2", "racks": rack_list}],
            }
        ],
    }
    path.write_text(yaml.safe_dump(doc))


async def token(client: httpx.AsyncClient, password: str = ADMIN_PASSWORD) -> str:
    """A token of user ``admin`` on project ``admin``."""
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {"name": "admin", "domain": {"id": "default"}, "password": password}
                },
            },
            "scope": {"project": {"name": "admin", "domain": {"id": "default"}}},
        }
    }
    r = await client.post("/identity/v3/auth/tokens", json=body)
    r.raise_for_status()
    return r.headers["X-Subject-Token"]


async def lift_port_quota(client: httpx.AsyncClient, token: str) -> None:
    """Let the token's project have any number of ports: every server gets one, and
    Neutron's default quota of 500 would fail a larger burst's builds past it."""
    mine = {"X-Auth-Token": token, "X-Subject-Token": token}
    r = await client.get("/identity/v3/auth/tokens", headers=mine)
    r.raise_for_status()
    project = r.json()["token"]["project"]["id"]
    body = {"quota": {"port": -1}}
    r = await client.put(f"/network/v2.0/quotas/{project}", json=body, headers=mine)
    r.raise_for_status()


@dataclass
class Cloud:
    """A running ``stockyard up``; its data dir and log are under ``workdir``."""

    proc: subprocess.Popen[bytes]
    port: int
    workdir: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def data_dir(self) -> Path:
        return self.workdir / "data"

    @property
    def log_path(self) -> Path:
        return self.workdir / "stockyard.log"

    @property
    def pid(self) -> int:
        return self.proc.pid


def start(
    workdir: Path, env: Mapping[str, str], *, timeout: float = 300, role: str = "up"
) -> Cloud:
    """``stockyard up`` (or the ``role`` command, e.g. ``api``) in ``workdir`` with ``env``
    over the bench defaults, once it answers ``/healthz``; exits the bench with the log's
    tail when it dies or does not answer."""
    port = free_port()
    full = {k: v for k, v in os.environ.items() if not k.startswith("STOCKYARD_")}
    full.update(
        STOCKYARD_API_PORT=str(port),
        STOCKYARD_DATA_DIR=str(workdir / "data"),
        STOCKYARD_LOG_LEVEL="WARNING",
    )
    full.update(env)
    log_path = workdir / "stockyard.log"
    with log_path.open("wb" if role == "up" else "ab") as log:  # the child keeps a copy
        proc = subprocess.Popen(
            [str(BIN / "stockyard"), role],
            env=full,
            cwd=workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    cloud = Cloud(proc, port, workdir)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"{cloud.base}/healthz", timeout=1).status_code == 200:
                return cloud
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    died = proc.poll() is not None
    stop(cloud)
    print(log_path.read_text()[-3000:], file=sys.stderr)
    raise SystemExit(f"stockyard {role} {'exited' if died else 'did not answer'}; see {log_path}")


def stop(cloud: Cloud) -> None:
    cloud.proc.terminate()
    try:
        cloud.proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        cloud.proc.kill()
        cloud.proc.wait()


@contextmanager
def running(
    workdir: Path, env: Mapping[str, str], *, timeout: float = 300, role: str = "up"
) -> Iterator[Cloud]:
    """:func:`start`, then :func:`stop` on the way out."""
    cloud = start(workdir, env, timeout=timeout, role=role)
    try:
        yield cloud
    finally:
        stop(cloud)


@contextmanager
def fake_lab_cloud(
    keep: Path | None, racks: int, per_rack: int, *, timeout: float = 300
) -> Iterator[Cloud]:
    """:func:`running` on a :func:`lab_yaml` lab with :data:`FAKE_LAB_ENV`, in ``keep``
    (made if missing and left in place, so a rerun finds its servers) or a temporary
    directory."""
    with tempfile.TemporaryDirectory() as tmp:
        workdir = keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        lab = workdir / "lab.yaml"
        lab_yaml(lab, racks, per_rack)
        env = {**FAKE_LAB_ENV, "STOCKYARD_LAB_FILE": str(lab)}
        with running(workdir, env, timeout=timeout) as cloud:
            yield cloud
