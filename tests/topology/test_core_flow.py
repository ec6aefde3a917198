"""The core flow with every role in its own process, on PostgreSQL or MariaDB + RabbitMQ,
driven by the real ``openstack`` CLI: api (2 workers), 2 schedulers, 2 conductors, agent."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.topology.cluster import Cluster, destroy_cluster, lab_yaml, make_cluster


@pytest.fixture(params=["postgresql", "mariadb"])
def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    lab = lab_yaml(tmp_path / "lab.yaml")
    c = make_cluster(tmp_path, str(request.param), lab)
    try:
        c.start("api", "--workers", "2")
        for role in ("scheduler", "scheduler", "conductor", "conductor", "agent"):
            c.start(role)
        yield c
    finally:
        destroy_cluster(c)


def _wait_status(c: Cluster, name: str, status: str, timeout: float = 60) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while True:
        server = c.cli.os_json("server", "show", name)
        if server["status"] == status or time.monotonic() > deadline:
            assert server["status"] == status, f"{name}: {server['status']}\n{c.logs()}"
            return dict(server)
        time.sleep(0.5)


def test_core_flow_in_separate_processes(cluster: Cluster) -> None:
    os_ = cluster.cli
    # m1.small is seeded (DevStack's sizes); the test's own flavor has its own name.
    os_.os("flavor", "create", "--vcpus", "2", "--ram", "2048", "--disk", "20", "topo.small")
    group = os_.os_json("server", "group", "create", "--policy", "anti-affinity", "web")
    os_.os(
        "server", "create", "--flavor", "topo.small", "--image", "stockyard-default",
        "--hint", f"group={group['id']}", "--min", "3", "--max", "3", "--wait", "web",
    )  # fmt: skip
    servers = {s["Name"]: s for s in os_.os_json("server", "list")}
    assert sorted(servers) == ["web-1", "web-2", "web-3"]
    assert {s["Status"] for s in servers.values()} == {"ACTIVE"}
    hosts = {os_.os_json("server", "show", name)["OS-EXT-SRV-ATTR:host"] for name in servers}
    assert len(hosts) == 3, hosts

    os_.os("server", "reboot", "--wait", "web-1")
    assert _wait_status(cluster, "web-1", "ACTIVE")["OS-EXT-STS:power_state"] in (1, "Running")
    os_.os("server", "stop", "web-1")
    _wait_status(cluster, "web-1", "SHUTOFF")
    os_.os("server", "start", "web-1")
    _wait_status(cluster, "web-1", "ACTIVE")

    os_.os("server", "delete", "--wait", "web-1", "web-2", "web-3")
    assert os_.os_json("server", "list") == []
