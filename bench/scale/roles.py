"""The real role processes on the generated database (``stockyard api``, ``scheduler``,
``conductor`` on RabbitMQ with a queue prefix of their own): their start, their memory,
and the server list through the API; one reconciler pass in process.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from stockyard.bus.memory import MemoryBus
from stockyard.conductor.service import Conductor
from stockyard.db.base import Database
from stockyard.settings import Settings

from .generate import ADMIN_PASSWORD
from .measure import pct, rss_mb

BIN = Path(sys.executable).parent
AMQP = os.environ.get("STOCKYARD_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
MV = "compute 2.96"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Role:
    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log: Path
    ready_s: float = 0.0


@dataclass
class Roles:
    """Role processes of one bench run; ``stop`` ends them (and their queues)."""

    url: str
    workdir: Path
    prefix: str = field(default_factory=lambda: f"syscale-{uuid.uuid4().hex[:8]}")
    started: list[Role] = field(default_factory=list)

    def env(self, port: int) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("STOCKYARD_", "OS_"))}
        env.update(
            STOCKYARD_DATABASE_URL=self.url,
            STOCKYARD_BUS_URL=AMQP,
            STOCKYARD_BUS_PREFIX=self.prefix,
            STOCKYARD_DATA_DIR=str(self.workdir / "data"),
            STOCKYARD_API_PORT=str(port),
            STOCKYARD_LOG_LEVEL="WARNING",
            STOCKYARD_ADMIN_PASSWORD=ADMIN_PASSWORD,
            STOCKYARD_DEMO_PASSWORD=ADMIN_PASSWORD,
        )
        return env

    def start(self, name: str, timeout: float = 600) -> Role:
        """Start ``stockyard <name>``; return once it answers (its start time included)."""
        port = free_port()
        args = [name] if name == "api" else [name, "--health-port", str(port)]
        log = self.workdir / f"{name}-{len(self.started)}.log"
        t0 = time.perf_counter()
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [str(BIN / "stockyard"), *args], env=self.env(port), cwd=self.workdir,
                stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        role = Role(name, proc, port, log)
        self.started.append(role)
        path = "/healthz" if name == "api" else "/readyz"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"{name} exited:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}{path}", timeout=2).status_code == 200:
                    role.ready_s = time.perf_counter() - t0
                    return role
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise SystemExit(f"{name} did not answer in {timeout} s; see {log}")

    def memory(self) -> dict[str, float]:
        """RSS (MiB, children included) of each started role, by name."""
        out: dict[str, float] = {}
        for role in self.started:
            key = role.name if role.name not in out else f"{role.name} #2"
            out[key] = rss_mb(role.proc.pid)
        return out

    def stop(self) -> None:
        for role in self.started:
            role.proc.terminate()
        for role in self.started:
            try:
                role.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                role.proc.kill()
                role.proc.wait()
        self.started.clear()
        try:
            from tests.topology.cluster import delete_queues

            delete_queues(self.prefix)
        except Exception as exc:  # a bench leaves its queues rather than fail at the end
            print(f"(queues {self.prefix}.* left: {exc})", file=sys.stderr)


async def server_lists(port: int, rounds: int) -> dict[str, tuple[list[float], int]]:
    """Wall seconds of ``rounds`` calls of each list, and the servers the last returned:
    ``openstack server list --all-projects --limit 1000`` and a project's ``server list``
    (the admin's own project), both as the CLI sends them (``/servers/detail``)."""
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base, timeout=300) as client:
        body = {"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": "admin", "domain": {"id": "default"}, "password": ADMIN_PASSWORD}}},
            "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}  # fmt: skip
        r = await client.post("/identity/v3/auth/tokens", json=body)
        r.raise_for_status()
        h = {"X-Auth-Token": r.headers["X-Subject-Token"], "OpenStack-API-Version": MV}
        paths = {
            "server list --all-projects --limit 1000":
                "/compute/v2.1/servers/detail?all_tenants=True&limit=1000",
            "server list (admin's project)": "/compute/v2.1/servers/detail",
        }  # fmt: skip
        out: dict[str, tuple[list[float], int]] = {}
        for label, path in paths.items():
            (await client.get(path, headers=h)).raise_for_status()  # warm
            times: list[float] = []
            count = 0
            for _ in range(rounds):
                t0 = time.perf_counter()
                r = await client.get(path, headers=h)
                times.append(time.perf_counter() - t0)
                r.raise_for_status()
                count = len(r.json()["servers"])
            out[label] = (times, count)
        return out


async def reconciler_passes(url: str, data_dir: Path, n: int = 3) -> list[float]:
    """Seconds of ``n`` passes of a conductor's reconciler (its own database pool and an
    in-process bus: a pass sends nothing when nothing is stuck)."""
    db = Database(url)
    settings = Settings(database_url=url, data_dir=data_dir)
    conductor = Conductor(db, MemoryBus(), settings, remote_scheduling=True)
    try:
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            await conductor.reconciler.run_once()
            times.append(time.perf_counter() - t0)
        return times
    finally:
        await db.dispose()


def fmt_list(label: str, times: list[float], count: int) -> str:
    ms = [t * 1000 for t in times]
    return (
        f"{label:<42} p50 {pct(ms, 50):7.1f} ms  p99 {pct(ms, 99):7.1f} ms"
        f"  ({count} servers, {len(ms)} calls)"
    )
