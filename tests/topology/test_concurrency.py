"""2 schedulers + 2 conductors, 200 parallel creates on a lab with room for exactly 150,
anti-affinity groups in the mix: 150 ACTIVE, 50 ERROR "No valid host", no host over
capacity, no group violated."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.topology import drive
from tests.topology.cluster import Cluster, destroy_cluster, lab_yaml, make_cluster

HOSTS = 10
PER_HOST = 15  # m1.one (1 GiB) fits 15 times in 15 GiB: 150 in the lab
GROUPS = 10
MEMBERS = 3

QUOTAS = {
    "STOCKYARD_QUOTA_INSTANCES": "1000",
    "STOCKYARD_QUOTA_CORES": "10000",
    "STOCKYARD_QUOTA_RAM": "10000000",
    "STOCKYARD_QUOTA_SERVER_GROUPS": "100",
    "STOCKYARD_QUOTA_SERVER_GROUP_MEMBERS": "100",
}


@pytest.fixture(params=["postgresql", "mariadb"])
def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    lab = lab_yaml(
        tmp_path / "lab.yaml", azs=2, racks=5, per_rack=1, vcpus=64,
        memory_mb=1024 * PER_HOST, local_gb=1000,
    )  # fmt: skip
    c = make_cluster(tmp_path, str(request.param), lab, **QUOTAS)
    try:
        c.start("api", "--workers", "2")
        for role in ("scheduler", "scheduler", "conductor", "conductor", "agent"):
            c.start(role)
        yield c
    finally:
        destroy_cluster(c)


def test_200_creates_on_room_for_150(cluster: Cluster) -> None:
    cli = cluster.cli
    flavor = cli.os_json("flavor", "create", "--vcpus", "1", "--ram", "1024", "--disk", "1",
                         "m1.one")["id"]  # fmt: skip
    image = cli.os_json("image", "show", "stockyard-default")["id"]
    groups = [
        cli.os_json("server", "group", "create", "--policy", "anti-affinity", f"g{i}")["id"]
        for i in range(GROUPS)
    ]
    token = cluster.token()
    # Group members first, so that capacity (not the policy) is what stops the last 50.
    bodies = [
        drive.server_body(f"g{g}-m{m}", flavor, image, groups[g])
        for m in range(MEMBERS)
        for g in range(GROUPS)
    ]
    bodies += [drive.server_body(f"vm{i}", flavor, image) for i in range(200 - len(bodies))]
    codes = asyncio.run(drive.create_servers(cluster.base_url, token, bodies))
    assert Counter(codes) == {202: 200}

    rows = asyncio.run(drive.wait_settled(cluster, 200))
    states = Counter(r.vm_state for r in rows)
    print(f"longest create-to-settled: {max(r.seconds for r in rows):.2f} s; {dict(states)}")
    faults = asyncio.run(drive.faults(cluster))
    reasons = Counter(m[60:] if len(m) > 100 else m for m in faults.values())
    assert states == {"active": 150, "error": 50}, (states, reasons)
    for r in rows:
        if r.vm_state == "error":
            assert "No valid host" in faults[r.uuid], faults[r.uuid]

    hosts = asyncio.run(
        cluster.sql(
            "SELECT name, vcpus, memory_mb, local_gb, vcpus_used, memory_mb_used,"
            " local_gb_used, cpu_allocation_ratio, ram_allocation_ratio FROM hosts"
        )
    )
    per_host = Counter(r.host for r in rows if r.vm_state == "active")
    for name, vcpus, mem, disk, vu, mu, du, cpu_ratio, ram_ratio in hosts:
        assert mu <= mem * ram_ratio and vu <= vcpus * cpu_ratio and du <= disk, name
        assert per_host[name] <= PER_HOST and mu == 1024 * per_host[name], name
    assert sum(per_host.values()) == 150

    for gid in groups:
        members = [r for r in rows if r.group_uuid == gid and r.vm_state == "active"]
        assert len({r.host for r in members}) == len(members), f"group {gid} violated"
