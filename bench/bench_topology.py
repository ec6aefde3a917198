"""1,000 creates through the production topology, 1 and 2 replicas, vs the embedded default.

Run: ``python bench/bench_topology.py [N] [--replicas 1 2]``. Prints figures only,
asserts nothing.

(a) topology, once per replica count R: PostgreSQL + RabbitMQ, separate processes: api
    (R workers), R schedulers, R conductors, 1 agent process with the lab's emulated
    hypervisors. On a machine of 2 cores, R = 2 shows what contention costs more than
    what replicas add: read the figures next to the core count printed with them.
(b) embedded: ``stockyard up`` (SQLite + in-process bus, one process).

Both on the same lab (20 hypervisors, room for 1,280 m1.tiny), fake boot time 0, the
creates sent by 100 concurrent HTTP clients. Throughput = creates / (first POST to last
instance ACTIVE); create-to-ACTIVE = ``launched_at - created_at`` of each instance.
Also printed: the CPU seconds each role used during the burst (for the topology, with
PostgreSQL's and RabbitMQ's processes), refused creates by status with the first body,
and servers that did not go ACTIVE by state and fault. The admin project's port quota
is lifted first (every server gets a port; Neutron's default quota is 500).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cloud import cpu_seconds, lift_port_quota, tree_cpu_seconds  # bench/: script's dir

from stockyard.db.base import make_engine
from tests.e2e.conftest import RunningCloud, start_cloud, stop_cloud
from tests.topology import drive
from tests.topology.cluster import (
    Cluster,
    destroy_cluster,
    lab_yaml,
    make_cluster,
)

ENV = {
    "STOCKYARD_FAKE_BOOT_SECONDS": "0",
    "STOCKYARD_QUOTA_INSTANCES": "100000",
    "STOCKYARD_QUOTA_CORES": "100000",
    "STOCKYARD_QUOTA_RAM": "100000000",
    "STOCKYARD_LOG_LEVEL": "WARNING",
    "STOCKYARD_ADMIN_PASSWORD": "admin-pw",
    "STOCKYARD_DEMO_PASSWORD": "demo-pw",
}


class _Sql:
    def __init__(self, url: str) -> None:
        self.db_url = url
        self.procs: list[object] = []

    async def sql(self, query: str) -> list[object]:
        from sqlalchemy import text

        engine = make_engine(self.db_url)
        try:
            async with engine.connect() as conn:
                return list((await conn.execute(text(query))).all())
        finally:
            await engine.dispose()

    def logs(self) -> str:
        return ""


async def _drive(base: str, token: str, cli: RunningCloud, target: object, n: int) -> str:
    flavor = cli.os_json("flavor", "show", "m1.tiny")["id"]
    image = cli.os_json("image", "show", "stockyard-default")["id"]
    bodies = [drive.server_body(f"b{i}", flavor, image) for i in range(n)]
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        await lift_port_quota(client, token)
    start = time.monotonic()
    refusals: dict[int, str] = {}
    codes = await drive.create_servers(base, token, bodies, concurrency=100, refusals=refusals)
    # Only accepted creates make instances: waiting for n after a refusal would hang.
    accepted = codes.count(202)
    rows = await drive.wait_settled(target, accepted, within=1200)  # type: ignore[arg-type]
    elapsed = time.monotonic() - start
    active = [r.seconds for r in rows if r.vm_state == "active"]
    figures = (
        f"{len(active)}/{n} ACTIVE ({accepted} accepted) in {elapsed:.1f} s:"
        f" {n / elapsed:.1f} creates/s; create-to-ACTIVE p50 {drive.percentile(active, 0.5):.2f}"
        f" s, p99 {drive.percentile(active, 0.99):.2f} s"
    )
    refused = collections.Counter(code for code in codes if code != 202)
    figures += "".join(
        f"\n    {count} x HTTP {code}: {refusals.get(code, '')}" for code, count in refused.items()
    )
    if len(active) < accepted:
        # Those that did not go ACTIVE, by state and fault message: a figure to read too.
        faults = await drive.faults(target)  # type: ignore[arg-type]
        outcome = collections.Counter(
            f"{r.vm_state}: {faults.get(r.uuid, 'no fault')[:160]}"
            for r in rows
            if r.vm_state != "active"
        )
        figures += "".join(f"\n    {count} x {what}" for what, count in outcome.most_common(8))
    return figures


def _server_pids() -> dict[str, list[int]]:
    """PostgreSQL's and RabbitMQ's processes on this machine, by their command names."""
    found: dict[str, list[int]] = {"postgresql": [], "rabbitmq": []}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if comm.startswith("postgres"):
            found["postgresql"].append(int(entry.name))
        elif comm.startswith(("beam", "erl_child")):
            found["rabbitmq"].append(int(entry.name))
    return found


def _cpu(roles: dict[str, list[int]]) -> dict[str, float]:
    """CPU seconds of each role's processes (and their children) so far."""
    return {
        role: sum(sum(tree_cpu_seconds(pid).values()) for pid in pids)
        for role, pids in roles.items()
    }


def _cpu_line(before: dict[str, float], after: dict[str, float], n: int) -> str:
    spent = {role: after[role] - before.get(role, 0.0) for role in after}
    parts = ", ".join(f"{role} {secs:.1f}" for role, secs in spent.items())
    return f"\n    CPU s: {parts}; {1000 * sum(spent.values()) / n:.1f} ms per create in all"


def topology(tmp: Path, n: int, replicas: int) -> str:
    lab = lab_yaml(tmp / "lab.yaml", azs=2, racks=5, per_rack=2, vcpus=64, memory_mb=32768)
    c: Cluster = make_cluster(tmp, "postgresql", lab, **ENV)
    try:
        c.start("api", "--workers", str(replicas))
        for role in ("scheduler", "conductor"):
            for _ in range(replicas):
                c.start(role)
        c.start("agent")
        roles: dict[str, list[int]] = {}
        for p in c.procs:
            roles.setdefault(p.role, []).append(p.proc.pid)
        # Servers started before the run: the new processes of a backend do not count.
        roles.update(_server_pids())
        token = c.token()
        before = _cpu(roles)
        figures = asyncio.run(_drive(c.base_url, token, c.cli, c, n))
        return figures + _cpu_line(before, _cpu(roles), n)
    finally:
        destroy_cluster(c)


def embedded(tmp: Path, n: int) -> str:
    lab = lab_yaml(tmp / "lab.yaml", azs=2, racks=5, per_rack=2, vcpus=64, memory_mb=32768)
    cloud = start_cloud(tmp, {**ENV, "STOCKYARD_LAB_FILE": str(lab)})
    try:
        token = str(cloud.os_json("token", "issue")["id"])
        url = f"sqlite+aiosqlite:///{(cloud.data_dir / 'stockyard.db').resolve()}"
        before = cpu_seconds(cloud.proc.pid)
        figures = asyncio.run(_drive(cloud.base_url, token, cloud, _Sql(url), n))
        spent = cpu_seconds(cloud.proc.pid) - before
        per = 1000 * spent / n
        return figures + f"\n    CPU s: stockyard up {spent:.1f}; {per:.1f} ms per create"
    finally:
        stop_cloud(cloud)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=1000, help="creates per run")
    parser.add_argument("--replicas", nargs="+", type=int, default=[1, 2])
    args = parser.parse_args()
    print(f"machine: os.cpu_count() = {os.cpu_count()}; {args.n} creates from 100 clients")
    for replicas in args.replicas:
        with tempfile.TemporaryDirectory() as tmp:
            figures = topology(Path(tmp), args.n, replicas)
        print(f"topology, {replicas} replica(s) of api/scheduler/conductor: {figures}")
    with tempfile.TemporaryDirectory() as tmp:
        print(f"embedded (SQLite + in-process bus, one process): {embedded(Path(tmp), args.n)}")


if __name__ == "__main__":
    main()
