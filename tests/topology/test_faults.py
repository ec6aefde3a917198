"""Faults mid-build on PostgreSQL + RabbitMQ, each ending with every server ACTIVE and
nothing stuck: kill -9 of a conductor, a scheduler, the agent; RabbitMQ stop/start;
the database connections cut. Each prints the longest create-to-ACTIVE time."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.topology import drive
from tests.topology.cluster import Cluster, destroy_cluster, lab_yaml, make_cluster

SERVERS = 20
FAST = {
    "STOCKYARD_LEASE_SECONDS": "3",
    "STOCKYARD_RECONCILE_INTERVAL_SECONDS": "1",
    "STOCKYARD_FAKE_BOOT_SECONDS": "2",
    "STOCKYARD_QUOTA_INSTANCES": "100",
    "STOCKYARD_QUOTA_CORES": "1000",
    "STOCKYARD_QUOTA_RAM": "10000000",
}


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    lab = lab_yaml(tmp_path / "lab.yaml", azs=2, racks=2, per_rack=1)
    c = make_cluster(tmp_path, "postgresql", lab, **FAST)
    try:
        c.start("api")
        for role in ("scheduler", "scheduler", "conductor", "conductor", "agent"):
            c.start(role)
        yield c
    finally:
        destroy_cluster(c)


def _run_with_fault(cluster: Cluster, fault: Callable[[], None], name: str) -> None:
    cli = cluster.cli
    flavor = cli.os_json("flavor", "show", "m1.tiny")["id"]
    image = cli.os_json("image", "show", "stockyard-default")["id"]
    token = cluster.token()
    bodies = [drive.server_body(f"vm{i}", flavor, image) for i in range(SERVERS)]
    codes = asyncio.run(drive.create_servers(cluster.base_url, token, bodies))
    assert Counter(codes) == {202: SERVERS}
    fault()
    rows = asyncio.run(drive.wait_settled(cluster, SERVERS, within=180))
    longest = max(r.seconds for r in rows)
    print(f"\n[{name}] longest time in BUILD: {longest:.1f} s")
    assert Counter(r.vm_state for r in rows) == {"active": SERVERS}, asyncio.run(
        drive.faults(cluster)
    )


def test_kill_conductor_mid_build(cluster: Cluster) -> None:
    def fault() -> None:
        time.sleep(0.5)
        cluster.kill9(next(p for p in cluster.procs if p.role == "conductor"))

    _run_with_fault(cluster, fault, "kill -9 conductor")


def test_kill_scheduler_mid_build(cluster: Cluster) -> None:
    def fault() -> None:
        cluster.kill9(next(p for p in cluster.procs if p.role == "scheduler"))

    _run_with_fault(cluster, fault, "kill -9 scheduler")


def test_kill_agent_mid_build(cluster: Cluster) -> None:
    def fault() -> None:
        time.sleep(0.5)
        cluster.kill9(next(p for p in cluster.procs if p.role == "agent"))
        time.sleep(1)
        cluster.start("agent")

    _run_with_fault(cluster, fault, "kill -9 agent, restart")


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=120)


@pytest.mark.broker_restart
def test_rabbitmq_stop_start_mid_flow(cluster: Cluster) -> None:
    def fault() -> None:
        try:
            _rabbitmqctl("stop_app")
            time.sleep(3)
        finally:
            _rabbitmqctl("start_app")

    _run_with_fault(cluster, fault, "rabbitmq stop_app/start_app")


def test_database_connections_cut_mid_flow(cluster: Cluster) -> None:
    dbname = cluster.db_url.rsplit("/", 1)[1]

    def fault() -> None:
        for _ in range(3):
            time.sleep(0.7)
            got = asyncio.run(
                cluster.sql(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    f" WHERE datname = '{dbname}' AND pid <> pg_backend_pid()"
                )
            )
            print(f"terminated {got[0][0]} backends")

    _run_with_fault(cluster, fault, "pg_terminate_backend")
