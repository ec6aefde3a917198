"""A Stockyard deployment as separate processes (api, schedulers, conductors, agent) on
real PostgreSQL/MariaDB + RabbitMQ, each test with its own database and queue prefix."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from stockyard.db import testing as dbt
from tests.e2e.conftest import RunningCloud, free_port

VENV_BIN = Path(sys.executable).parent
RABBIT_URL = os.environ.get("STOCKYARD_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
TRANSITIONAL = {"BUILD", "REBOOT", "HARD_REBOOT", "REBUILD", "DELETING"}


def lab_yaml(
    path: Path,
    *,
    azs: int = 2,
    racks: int = 2,
    per_rack: int = 1,
    vcpus: int = 16,
    memory_mb: int = 32768,
    local_gb: int = 200,
    boot_seconds: float = 0.0,
) -> Path:
    """Write a lab of fake hypervisors only (no baremetal)."""
    rack_lines = "".join(
        f"          - {{name: r{r + 1}, hypervisors: {per_rack}}}\n" for r in range(racks)
    )
    az_lines = "".join(f"      - name: az{a + 1}\n        racks:\n{rack_lines}" for a in range(azs))
    path.write_text(
        "version: 1\n"
        f"fake: {{boot_seconds: {boot_seconds}, fail_spawn: false, seed: 1}}\n"
        f"hypervisor_defaults: {{vcpus: {vcpus}, memory_mb: {memory_mb}, local_gb: {local_gb},"
        " hypervisor_type: fake}\n"
        "regions:\n  - name: RegionOne\n    cidr: 10.20.0.0/16\n    azs:\n" + az_lines
    )
    return path


def _skip_or_fail(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def _reachable(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def require_services(backend: str) -> None:
    """Skip (or fail under CI=true) when the database server or RabbitMQ is unreachable."""
    if not dbt.server_reachable(backend):
        _skip_or_fail(f"{backend} unreachable at {dbt.SERVER_URLS[backend]}")
    if not _reachable("127.0.0.1", 5672):
        _skip_or_fail("RabbitMQ unreachable at 127.0.0.1:5672")


@dataclass
class Proc:
    role: str
    args: list[str]
    log_path: Path
    proc: subprocess.Popen[bytes]
    health_port: int | None = None


@dataclass
class Cluster:
    """Processes of one deployment; ``os``/``os_json`` drive it with the real CLI."""

    tmp: Path
    backend: str
    env: dict[str, str]
    lab: Path
    port: int
    db_url: str
    prefix: str
    procs: list[Proc] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def cli(self) -> RunningCloud:
        data = Path(self.env["STOCKYARD_DATA_DIR"])
        api = next(p for p in self.procs if p.role == "api")
        return RunningCloud(self.base_url, data, data / "clouds.yaml", api.proc, api.log_path)

    def run(self, *args: str) -> str:
        out = subprocess.run(
            [str(VENV_BIN / "stockyard"), *args],
            env=self.env, cwd=self.tmp, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        if out.returncode != 0:
            raise AssertionError(f"stockyard {' '.join(args)}: {out.stdout}\n{out.stderr}")
        return out.stdout

    def start(self, role: str, *extra: str) -> Proc:
        """Start one role process; wait until it answers /readyz."""
        n = sum(1 for p in self.procs if p.role == role)
        log_path = self.tmp / f"{role}-{n}-{len(self.procs)}.log"
        health = self.port if role == "api" else free_port()
        args = role_args(role, *extra, health_port=health, lab=self.lab)
        log = log_path.open("wb")
        proc = subprocess.Popen(
            [str(VENV_BIN / "stockyard"), *args],
            env=self.env, cwd=self.tmp, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        p = Proc(role, args, log_path, proc, health)
        self.procs.append(p)
        self.wait_ready(p)
        return p

    def wait_ready(self, p: Proc, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if p.proc.poll() is not None:
                raise AssertionError(f"{p.role} exited {p.proc.returncode}:\n{self.tail(p)}")
            try:
                url = f"http://127.0.0.1:{p.health_port}/readyz"
                if httpx.get(url, timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"{p.role} never ready:\n{self.tail(p)}")

    def kill9(self, p: Proc) -> None:
        p.proc.send_signal(signal.SIGKILL)
        p.proc.wait(timeout=10)
        self.procs.remove(p)

    def tail(self, p: Proc, lines: int = 40) -> str:
        try:
            return "\n".join(p.log_path.read_text().splitlines()[-lines:])
        except OSError:
            return ""

    def logs(self) -> str:
        return "\n".join(f"--- {p.role} ---\n{self.tail(p)}" for p in self.procs)

    def stop(self) -> None:
        for p in self.procs:
            if p.proc.poll() is None:
                p.proc.terminate()
        for p in self.procs:
            try:
                p.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.proc.kill()
                p.proc.wait()

    def token(self, cloud: str = "stockyard-admin") -> str:
        return str(self.cli.os_json("token", "issue", cloud=cloud)["id"])

    async def sql(self, query: str) -> list[Any]:
        """Rows of a read-only query on the deployment's database."""
        from sqlalchemy import text

        from stockyard.db.base import make_engine

        engine = make_engine(self.db_url)
        try:
            async with engine.connect() as conn:
                return list((await conn.execute(text(query))).all())
        finally:
            await engine.dispose()


def role_args(
    role: str,
    *extra: str,
    health_port: int,
    lab: Path,
    region: str = "RegionOne",
    hwmgr_url: str = "",
    image_port: int = 8791,
) -> list[str]:
    """The command line (after ``stockyard``) the suite starts ``role`` with: the options
    deploy/'s manifests start it with, with this machine's values (tests/deploy checks
    that both use the same options)."""
    args = [role, *extra]
    if role == "baremetal-agent":
        # The image server on 127.0.0.1, where this machine's hwmgr fetches from.
        args += ["--region", region, "--hwmgr-url", hwmgr_url, "--image-host", "127.0.0.1",
                 "--image-port", str(image_port), "--image-url",
                 f"http://127.0.0.1:{image_port}", "--report-interval", "2"]  # fmt: skip
    if role != "api":  # the API serves /healthz and /readyz on its own port
        args += ["--health-port", str(health_port), "--health-host", "127.0.0.1"]
    if role == "agent":
        args += ["--lab", str(lab), "--report-interval", "2"]
    return args


def upgrade_args(lab: Path) -> list[str]:
    """``stockyard db upgrade`` as the deployment's upgrade Job runs it."""
    return ["db", "upgrade", "--lab", str(lab)]


def make_cluster(tmp: Path, backend: str, lab: Path, **env: str) -> Cluster:
    """Fresh database + queue prefix, schema and seed; no process started yet."""
    require_services(backend)
    db_url = asyncio.run(dbt.create_database(backend, prefix="sytopo"))
    prefix = f"sytopo-{uuid.uuid4().hex[:10]}"
    port = free_port()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("STOCKYARD_", "OS_"))}
    base.update(
        STOCKYARD_DATABASE_URL=db_url,
        STOCKYARD_BUS_URL=RABBIT_URL,
        STOCKYARD_BUS_PREFIX=prefix,
        STOCKYARD_DATA_DIR=str(tmp / "data"),
        STOCKYARD_LAB_FILE=str(lab),
        STOCKYARD_API_PORT=str(port),
        STOCKYARD_RECONCILE_INTERVAL_SECONDS="1",
        STOCKYARD_FAKE_BOOT_SECONDS="0",
        STOCKYARD_ADMIN_PASSWORD="admin-pw",
        STOCKYARD_DEMO_PASSWORD="demo-pw",
    )
    base.update(env)
    cluster = Cluster(tmp, backend, base, lab, port, db_url, prefix)
    cluster.run(*upgrade_args(lab))
    return cluster


def destroy_cluster(cluster: Cluster) -> None:
    """Stop every process, drop the database and delete the test's queues."""
    cluster.stop()
    asyncio.run(dbt.drop_database(cluster.db_url))
    delete_queues(cluster.prefix)


def delete_queues(prefix: str) -> None:
    """Delete every RabbitMQ queue named ``<prefix>.*``."""
    out = subprocess.run(
        ["rabbitmqctl", "list_queues", "-q", "--no-table-headers", "name"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    names = [n.strip() for n in out.stdout.splitlines() if n.strip().startswith(prefix + ".")]
    if names:
        asyncio.run(_delete_queues(names))


async def _delete_queues(names: list[str]) -> None:
    import aio_pika

    conn = await aio_pika.connect(RABBIT_URL)
    async with conn:
        channel = await conn.channel()
        for name in names:
            await channel.queue_delete(name)
