"""Server-group policies over failure domains with the real ``openstack`` CLI against a
real ``stockyard up``: hard anti-affinity spreads or fails all-or-nothing with a fault
that says why, soft anti-affinity spreads as far as it can and lands every member, and
no group lands anywhere. For baremetal (bm.gold on demo's stock) and VMs (m1 flavors on
the emulated hypervisors), over rack, az and region.

The lab is small (Redfish only, zero install and boot time): az1 has demo BM_GOLD
stock on racks r1 (2 nodes) and r2 (1 node), az2 on r1 (1 node); VMs have one
hypervisor per rack in az1 (3 racks), az2 and az3, az3 being in RegionTwo. The
hypervisors' names say nothing of where they are: every spread is checked from the data,
the group's ``stockyard-placement`` as its project reads it, or the rack aggregates as an
admin reads them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import CAPACITY, RunningCloud, lab_cloud
from tests.e2e.failure_domains import group_placement, member_domains, racks_by_host

DEMO = "stockyard"
MV = ("--os-compute-api-version", "2.64")
_GOLD = {"resource_class": "BM_GOLD", "bmc": "redfish", "stock": "demo"}


def _rack(name: str, *hypervisors: str) -> dict[str, Any]:
    return {"name": name, "hypervisors": [{"name": h} for h in hypervisors]}


LAB: dict[str, Any] = {
    "version": 1,
    "fake": {"boot_seconds": 0},
    "regions": [
        {
            "name": "RegionOne",
            "cidr": "10.10.0.0/16",
            "azs": [
                {"name": "az1", "racks": [_rack(f"r{i}", f"hv-{i}") for i in (1, 2, 3)]},
                {"name": "az2", "racks": [_rack("r1", "hv-4")]},
            ],
        },
        {
            "name": "RegionTwo",
            "cidr": "10.20.0.0/16",
            "azs": [{"name": "az3", "racks": [_rack("r1", "hv-5")]}],
        },
    ],
    "baremetal": {
        "install_seconds": 0,
        "classes": {"BM_GOLD": {"cpus": 8, "memory_mb": 16384, "disk_gb": 100}},
        "racks": [
            {"region": "RegionOne", "az": az, "rack": rack, "nodes": [{**_GOLD, "count": n}]}
            for az, rack, n in (("az1", "r1", 2), ("az1", "r2", 1), ("az2", "r1", 1))
        ],
    },
}
BM_NODES = 4


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCloud]:
    env = {"STOCKYARD_FAKE_BOOT_SECONDS": "0"}
    with lab_cloud(tmp_path_factory, "policies", LAB, env) as c:
        yield c


def _group(c: RunningCloud, name: str, policy: str, domain: str) -> str:
    group = c.os_json(
        *MV, "server", "group", "create", "--policy", policy,
        "--rule", f"failure_domain={domain}", name, cloud=DEMO,
    )  # fmt: skip
    assert group["policy"] == policy
    assert group["rules"] == {"failure_domain": domain}, group
    return str(group["id"])


def _create(
    c: RunningCloud, name: str, flavor: str, count: int, *extra: str, ok: bool = True
) -> list[dict[str, Any]]:
    """``server create --min/--max count --wait``; the members once settled (admin's
    ``server list --long`` rows: ID, Name, Status, Task State, Availability Zone, Host)."""
    proc = c.os(
        "server", "create", "--flavor", flavor, "--image", "stockyard-default",
        "--min", str(count), "--max", str(count), *extra, "--wait", name,
        cloud=DEMO, check=ok, timeout=400,
    )  # fmt: skip
    if not ok:
        assert proc.returncode != 0, proc.stdout
    deadline = time.monotonic() + 300
    while True:
        rows: list[dict[str, Any]] = c.os_json(
            "server", "list", "--all-projects", "--long", "--name", f"^{name}(-[0-9]+)?$"
        )
        if len(rows) == count and all(
            r["Status"] in ("ACTIVE", "ERROR") and not r.get("Task State") for r in rows
        ):
            return sorted(rows, key=lambda r: str(r["Name"]))
        assert time.monotonic() < deadline, rows
        time.sleep(1)


def _fault(c: RunningCloud, server: dict[str, Any]) -> str:
    return str(c.os_json("server", "show", server["ID"]).get("fault"))


def _spread(c: RunningCloud, group: str, servers: list[dict[str, Any]], level: str) -> list[str]:
    """The members' failure domains at ``level``, as the group's project reads them; checks
    that they are the servers made and that the extension's ``rule_met`` agrees."""
    placement = group_placement(c, group, cloud=DEMO)
    domains = member_domains(placement, level)
    assert set(domains) == {s["ID"] for s in servers}, placement
    values = [domains[s["ID"]] for s in servers]
    spread_fully = len(set(values)) == len(values)
    assert placement["failure_domain"] == level and placement["rule_met"] is spread_fully
    return values


def _delete(c: RunningCloud, servers: list[dict[str, Any]]) -> None:
    c.os("server", "delete", "--wait", *(s["ID"] for s in servers), cloud=DEMO, timeout=400)


def _free_bm(c: RunningCloud) -> int:
    """demo's free stock, waiting for cleaning to hand deleted servers' nodes back."""
    deadline = time.monotonic() + 300
    while True:
        nodes = c.os_json(*CAPACITY, "hypervisor", "list", "--long")
        busy = [n for n in nodes if n["Hypervisor Type"] == "baremetal" and n["vCPUs Used"]]
        if not busy or time.monotonic() > deadline:
            return BM_NODES - len(busy)
        time.sleep(1)


def test_admin_reads_every_hosts_rack_from_the_rack_aggregates(cloud: RunningCloud) -> None:
    racks = racks_by_host(cloud)
    assert {h: racks[h] for h in ("hv-1", "hv-2", "hv-4", "hv-5")} == {
        "hv-1": "RegionOne/az1/r1",
        "hv-2": "RegionOne/az1/r2",
        "hv-4": "RegionOne/az2/r1",
        "hv-5": "RegionTwo/az3/r1",
    }
    nodes = [n["Hypervisor Hostname"] for n in cloud.os_json("hypervisor", "list")]
    assert set(racks) == set(nodes)  # every hypervisor and node is in its rack
    bm = sorted(racks[n] for n in nodes if not n.startswith("hv-"))
    assert bm == ["RegionOne/az1/r1", "RegionOne/az1/r1", "RegionOne/az1/r2", "RegionOne/az2/r1"]
    rack = cloud.os_json("aggregate", "show", "RegionOne/az1/r1")
    assert rack["availability_zone"] == "az1" and "hv-1" in rack["hosts"], rack
    assert rack["properties"]["stockyard:rack"] == "r1", rack


def test_baremetal_hard_rack_spreads_over_three_racks(cloud: RunningCloud) -> None:
    group = _group(cloud, "db", "anti-affinity", "rack")
    servers = _create(cloud, "db", "bm.gold", 3, "--hint", f"group={group}")
    assert [s["Status"] for s in servers] == ["ACTIVE"] * 3
    assert len(set(_spread(cloud, group, servers, "rack"))) == 3
    _delete(cloud, servers)
    assert _free_bm(cloud) == BM_NODES


def test_baremetal_hard_rack_that_cannot_be_met_fails_all_with_reason(
    cloud: RunningCloud,
) -> None:
    group = _group(cloud, "dbaz1", "anti-affinity", "rack")
    servers = _create(
        cloud, "dbaz1", "bm.gold", 3, "--hint", f"group={group}",
        "--availability-zone", "az1", ok=False,
    )  # fmt: skip
    assert [s["Status"] for s in servers] == ["ERROR"] * 3  # all or nothing
    for s in servers:
        fault = _fault(cloud, s)
        assert "only 2 racks have free BM_GOLD stock in az1 for group dbaz1" in fault, fault
    assert _free_bm(cloud) == BM_NODES  # nothing was kept
    _delete(cloud, servers)


def test_baremetal_soft_rack_spreads_as_far_as_stock_allows(cloud: RunningCloud) -> None:
    group = _group(cloud, "softdb", "soft-anti-affinity", "rack")
    servers = _create(
        cloud, "softdb", "bm.gold", 3, "--hint", f"group={group}", "--availability-zone", "az1"
    )
    assert [s["Status"] for s in servers] == ["ACTIVE"] * 3
    # az1 has demo stock on two racks only: both used, one twice (the rule is not met).
    racks = _spread(cloud, group, servers, "rack")
    assert sorted(set(racks)) == ["RegionOne/az1/r1", "RegionOne/az1/r2"], racks
    _delete(cloud, servers)
    assert _free_bm(cloud) == BM_NODES


def test_baremetal_hard_az_and_no_group(cloud: RunningCloud) -> None:
    group = _group(cloud, "azdb", "anti-affinity", "az")
    servers = _create(cloud, "azdb", "bm.gold", 2, "--hint", f"group={group}")
    assert [s["Status"] for s in servers] == ["ACTIVE"] * 2
    assert sorted(_spread(cloud, group, servers, "az")) == ["RegionOne/az1", "RegionOne/az2"]
    _delete(cloud, servers)
    # Without a group, the whole stock is usable, two servers on one rack included: the
    # admin reads the racks of their nodes from the rack aggregates.
    servers = _create(cloud, "plain", "bm.gold", BM_NODES)
    assert [s["Status"] for s in servers] == ["ACTIVE"] * BM_NODES
    racks = racks_by_host(cloud)
    assert len({racks[s["Host"]] for s in servers}) == 3
    _delete(cloud, servers)
    assert _free_bm(cloud) == BM_NODES


def test_baremetal_hard_region_cannot_be_met_in_one_region(cloud: RunningCloud) -> None:
    group = _group(cloud, "regdb", "anti-affinity", "region")
    servers = _create(cloud, "regdb", "bm.gold", 2, "--hint", f"group={group}", ok=False)
    assert [s["Status"] for s in servers] == ["ERROR"] * 2
    fault = _fault(cloud, servers[0])
    assert "only 1 region has free BM_GOLD stock for group regdb" in fault, fault
    _delete(cloud, servers)


def test_vms_hard_az_and_region(cloud: RunningCloud) -> None:
    group = _group(cloud, "web", "anti-affinity", "az")
    servers = _create(cloud, "web", "m1.tiny", 3, "--hint", f"group={group}")
    assert [s["Status"] for s in servers] == ["ACTIVE"] * 3
    assert {s["Availability Zone"] for s in servers} == {"az1", "az2", "az3"}
    azs = _spread(cloud, group, servers, "az")
    assert sorted(azs) == ["RegionOne/az1", "RegionOne/az2", "RegionTwo/az3"]
    _delete(cloud, servers)

    group = _group(cloud, "geo", "anti-affinity", "region")
    servers = _create(cloud, "geo", "m1.tiny", 2, "--hint", f"group={group}")
    assert sorted(_spread(cloud, group, servers, "region")) == ["RegionOne", "RegionTwo"]
    _delete(cloud, servers)

    group = _group(cloud, "geo3", "anti-affinity", "region")
    servers = _create(cloud, "geo3", "m1.tiny", 3, "--hint", f"group={group}", ok=False)
    assert [s["Status"] for s in servers] == ["ERROR"] * 3
    fault = _fault(cloud, servers[0])
    assert "only 2 regions have a hypervisor with room for group geo3" in fault, fault
    _delete(cloud, servers)


def test_vms_soft_region_lands_all_spread(cloud: RunningCloud) -> None:
    group = _group(cloud, "soft", "soft-anti-affinity", "region")
    servers = _create(cloud, "soft", "m1.tiny", 3, "--hint", f"group={group}")
    assert [s["Status"] for s in servers] == ["ACTIVE"] * 3
    assert set(_spread(cloud, group, servers, "region")) == {"RegionOne", "RegionTwo"}
    _delete(cloud, servers)
