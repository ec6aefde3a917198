"""The baremetal lab behind the compute API: hwmgr, emulated BMCs, agents and the conductor.

Servers are created through the real API app with a real conductor and scheduler; every
deploy crosses hwmgr's REST API, the BMC protocols and the emulated installer.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from stockyard.conductor.service import Conductor
from stockyard.db.models import Flavor, Host
from stockyard.image.defaults import DEFAULT_IMAGE_ID, register_default_image
from stockyard.image.store import ImageStore
from stockyard.lab.baremetal import BaremetalLab, start_baremetal_lab
from stockyard.lab.enroll import enroll
from stockyard.lab.model import Lab, LabError, parse_lab
from stockyard.settings import Settings
from tests.compute_api.helpers import V
from tests.conftest import Cloud

MV = "2.64"


def small_lab() -> Lab:
    """az1 with 3 racks: demo owns one BM_GOLD node per rack, one more is unassigned."""
    gold = {"resource_class": "BM_GOLD", "count": 1}
    return parse_lab(
        {
            "regions": [
                {
                    "name": "RegionOne",
                    "cidr": "10.10.0.0/16",
                    "azs": [{"name": "az1", "racks": [{"name": f"r{i}"} for i in (1, 2, 3)]}],
                }
            ],
            "baremetal": {
                "install_seconds": 0,
                "classes": {"BM_GOLD": {"cpus": 8, "memory_mb": 16384, "disk_gb": 100}},
                "racks": [
                    {"region": "RegionOne", "az": "az1", "rack": "r1", "nodes": [
                        {**gold, "bmc": "redfish", "stock": "demo"},
                        {**gold, "bmc": "redfish"},
                    ]},
                    {"region": "RegionOne", "az": "az1", "rack": "r2", "nodes": [
                        {**gold, "bmc": "ipmi", "stock": "demo"},
                    ]},
                    {"region": "RegionOne", "az": "az1", "rack": "r3", "nodes": [
                        {**gold, "bmc": "redfish", "stock": "demo"},
                    ]},
                ],
            },
        },
        "test-lab",
    )  # fmt: skip


@dataclass
class BmCloud:
    cloud: Cloud
    lab: BaremetalLab

    def h(self, token: str) -> dict[str, str]:
        return self.cloud.headers(token, MV)

    async def server(self, uuid: str, token: str) -> dict[str, Any]:
        r = await self.cloud.client.get(f"{V}/servers/{uuid}", headers=self.h(token))
        assert r.status_code == 200, r.text
        server: dict[str, Any] = r.json()["server"]
        return server

    async def settle(self, uuids: list[str], token: str, want: set[str]) -> list[dict[str, Any]]:
        """Wait until no server has a task and each is in one of ``want`` states."""
        async with asyncio.timeout(90):
            while True:
                servers = [await self.server(u, token) for u in uuids]
                if all(
                    s["status"] in want and s.get("OS-EXT-STS:task_state") is None for s in servers
                ):
                    return servers
                await asyncio.sleep(0.2)


@pytest.fixture
async def bm(cloud: Cloud, settings: Settings) -> AsyncIterator[BmCloud]:
    db, bus = cloud.state.db, cloud.state.bus
    lab = small_lab()
    async with db.session() as session:
        await register_default_image(
            session, ImageStore(settings.data_dir / "images"), cloud.seeded.admin_project_id
        )
        await enroll(session, lab, settings)
    running = await start_baremetal_lab(lab, settings, bus, db, report_interval=3600)
    conductor = Conductor(db, bus, settings)
    await conductor.start()
    try:
        yield BmCloud(cloud, running)
    finally:
        await running.stop()
        await conductor.stop()


async def test_lab_enrolls_hosts_stock_and_flavors(bm: BmCloud) -> None:
    db = bm.cloud.state.db
    async with db.session() as session:
        hosts = (await session.scalars(select(Host).where(Host.kind == "baremetal"))).all()
        flavor = await session.scalar(select(Flavor).where(Flavor.name == "bm.gold"))
    assert sorted(h.name for h in hosts) == [
        "regionone-az1-r1-bm01",
        "regionone-az1-r1-bm02",
        "regionone-az1-r2-bm01",
        "regionone-az1-r3-bm01",
    ]
    demo = bm.cloud.seeded.demo_project_id
    owners = {h.name: h.owner_project for h in hosts}
    assert owners["regionone-az1-r1-bm02"] is None
    assert {owners[n] for n in owners if n != "regionone-az1-r1-bm02"} == {demo}
    assert {(h.resource_class, h.hypervisor_type, h.vcpus, h.local_gb) for h in hosts} == {
        ("BM_GOLD", "baremetal", 8, 100)
    }
    assert flavor is not None and flavor.extra_specs == {"resources:CUSTOM_BM_GOLD": "1"}
    # Host.uuid is hwmgr's node uuid; every node was managed (BMC answered).
    driver = bm.lab.drivers["RegionOne"]
    nodes = await driver.nodes(max_age=0)
    assert {h.name: h.uuid for h in hosts} == {n: v["uuid"] for n, v in nodes.items()}
    assert {v["provision_state"] for v in nodes.values()} == {"available"}
    assert bm.lab.pool is not None and len(bm.lab.pool.agents) == 4
    # Each node is in its rack's host aggregate, which admins read through the API.
    assert await rack_hosts(bm) == {
        "RegionOne/az1/r1": ["regionone-az1-r1-bm01", "regionone-az1-r1-bm02"],
        "RegionOne/az1/r2": ["regionone-az1-r2-bm01"],
        "RegionOne/az1/r3": ["regionone-az1-r3-bm01"],
    }


async def rack_hosts(bm: BmCloud) -> dict[str, list[str]]:
    """``region/az/rack`` (from the metadata, not the name) -> hosts of the aggregate."""
    r = await bm.cloud.client.get(f"{V}/os-aggregates", headers=bm.cloud.admin)
    assert r.status_code == 200, r.text
    out = {}
    for agg in r.json()["aggregates"]:
        meta = agg["metadata"]
        if meta.get("stockyard:failure_domain") == "rack":
            key = f"{meta['stockyard:region']}/{meta['availability_zone']}/{meta['stockyard:rack']}"
            out[key] = sorted(agg["hosts"])
    return out


async def test_anti_affinity_over_racks_on_the_projects_stock(bm: BmCloud) -> None:
    c = bm.cloud
    demo = c.demo_token
    r = await c.client.post(
        f"{V}/os-server-groups",
        json={
            "server_group": {
                "name": "db",
                "policy": "anti-affinity",
                "rules": {"failure_domain": "rack"},
            }
        },
        headers=bm.h(demo),
    )
    assert r.status_code == 200, r.text
    group = r.json()["server_group"]["id"]
    body = {
        "server": {
            "name": "db",
            "flavorRef": "bm.gold",
            "imageRef": DEFAULT_IMAGE_ID,
            "networks": "auto",
            "min_count": 3,
            "max_count": 3,
        },
        "os:scheduler_hints": {"group": group},
    }
    r = await c.client.post(
        f"{V}/servers?return_reservation_id=false", json=body, headers=bm.h(demo)
    )
    assert r.status_code == 202, r.text
    r = await c.client.get(f"{V}/servers?name=db", headers=bm.h(demo))
    uuids = [s["id"] for s in r.json()["servers"]]
    assert len(uuids) == 3
    await bm.settle(uuids, demo, {"ACTIVE", "ERROR"})
    servers = await bm.settle(uuids, c.admin_token, {"ACTIVE"})
    nodes = [s["OS-EXT-SRV-ATTR:hypervisor_hostname"] or s["OS-EXT-SRV-ATTR:host"] for s in servers]
    # demo reads its members' racks from the group's placement extension.
    r = await c.client.get(f"{V}/os-server-groups/{group}/stockyard-placement", headers=bm.h(demo))
    assert r.status_code == 200, r.text
    placement = r.json()["server_group_placement"]
    assert sorted(m["id"] for m in placement["members"]) == sorted(uuids)
    assert {m["rack"] for m in placement["members"]} == {"r1", "r2", "r3"}
    assert placement["rule_met"] is True
    assert "regionone-az1-r1-bm02" not in nodes  # not in demo's stock
    hwmgr_nodes = await bm.lab.drivers["RegionOne"].nodes(max_age=0)
    assert {hwmgr_nodes[n]["provision_state"] for n in nodes} == {"active"}

    # Reboot (BMC power cycle) and rebuild (reinstall) keep the server ACTIVE on its node.
    first = uuids[0]
    r = await c.client.post(
        f"{V}/servers/{first}/action", json={"reboot": {"type": "HARD"}}, headers=bm.h(demo)
    )
    assert r.status_code == 202, r.text
    await bm.settle([first], demo, {"ACTIVE"})
    r = await c.client.post(
        f"{V}/servers/{first}/action",
        json={"rebuild": {"imageRef": DEFAULT_IMAGE_ID}},
        headers=bm.h(demo),
    )
    assert r.status_code in (200, 202), r.text
    await bm.settle([first], demo, {"ACTIVE"})
    node_uuid = hwmgr_nodes[nodes[0]]["uuid"]
    installs = [
        t
        for t in await bm.lab.drivers["RegionOne"].client.tasks(node=node_uuid)
        if t["type"] == "install"
    ]
    assert [t["state"] for t in installs] == ["done", "done"]
    # An admin reads the same from the stock API (the dashboard's operator view does).
    r = await c.client.get(
        "/stock/v1/tasks", params={"state": "finished", "type": "install"}, headers=c.admin
    )
    assert r.status_code == 200, r.text
    public = [t for t in r.json()["tasks"] if t["node_uuid"] == node_uuid]
    assert [(t["phase"], t["node_name"], t["region"]) for t in public] == [
        ("done", nodes[0], "RegionOne")
    ] * 2
    r = await c.client.get("/stock/v1/node-states", headers=c.admin)
    states = {n["name"]: (n["provision_state"], n["power_state"]) for n in r.json()["nodes"]}
    assert {states[n] for n in nodes} == {("active", "on")}
    assert states["regionone-az1-r1-bm02"][0] == "available"
    assert r.json()["unreachable"] == []
    r = await c.client.get("/stock/v1/tasks", headers=bm.h(demo))
    assert r.status_code == 403

    # Delete: nodes are cleaned and go back to the project's stock.
    for uuid in uuids:
        r = await c.client.delete(f"{V}/servers/{uuid}", headers=bm.h(demo))
        assert r.status_code == 204, r.text
    async with asyncio.timeout(90):
        while True:
            r = await c.client.get(f"{V}/servers", headers=bm.h(demo))
            if not r.json()["servers"]:
                break
            await asyncio.sleep(0.2)
    hwmgr_nodes = await bm.lab.drivers["RegionOne"].nodes(max_age=0)
    assert {hwmgr_nodes[n]["provision_state"] for n in nodes} == {"available"}
    async with c.state.db.session() as session:
        owners = set(
            (await session.scalars(select(Host.owner_project).where(Host.name.in_(nodes)))).all()
        )
    assert owners == {c.seeded.demo_project_id}


async def test_a_project_without_stock_gets_no_valid_host(bm: BmCloud) -> None:
    c = bm.cloud
    body = {
        "server": {
            "name": "nostock",
            "flavorRef": "bm.gold",
            "imageRef": DEFAULT_IMAGE_ID,
            "networks": "auto",
        }
    }
    r = await c.client.post(f"{V}/servers", json=body, headers=bm.h(c.admin_token))
    assert r.status_code == 202, r.text
    uuid = r.json()["server"]["id"]
    (server,) = await bm.settle([uuid], c.admin_token, {"ERROR"})
    message = server["fault"]["message"]
    assert "No valid host" in message and "stock" in message, message


def test_stock_names_unknown_classes_and_azs_are_refused() -> None:
    base = small_lab().model_dump()
    base["baremetal"]["racks"][0]["nodes"][0]["resource_class"] = "BM_PLATINUM"
    with pytest.raises(LabError, match="BM_PLATINUM"):
        parse_lab(base, "bad")
    base = small_lab().model_dump()
    base["baremetal"]["racks"][0]["az"] = "az9"
    with pytest.raises(LabError, match="az9"):
        parse_lab(base, "bad")


async def test_a_restart_keeps_stock_and_follows_reenrolled_nodes(
    bm: BmCloud, settings: Settings
) -> None:
    db, bus = bm.cloud.state.db, bm.cloud.state.bus
    moved = "regionone-az1-r1-bm02"
    async with db.session() as session:
        host = await session.scalar(select(Host).where(Host.name == moved))
        assert host is not None
        host.owner_project = bm.cloud.seeded.admin_project_id  # as the stock API would
    await bm.lab.stop()

    bm.lab = await start_baremetal_lab(small_lab(), settings, bus, db, report_interval=3600)

    async with db.session() as session:
        hosts = {
            h.name: h
            for h in (await session.scalars(select(Host).where(Host.kind == "baremetal"))).all()
        }
    assert hosts[moved].owner_project == bm.cloud.seeded.admin_project_id
    nodes = await bm.lab.drivers["RegionOne"].nodes(max_age=0)
    assert {n: h.uuid for n, h in hosts.items()} == {n: v["uuid"] for n, v in nodes.items()}
    assert {v["provision_state"] for v in nodes.values()} == {"available"}
    assert len(await rack_hosts(bm)) == 3  # the same rack aggregates, not new ones


async def test_a_restart_keeps_the_machines_powered_as_they_were(
    bm: BmCloud, settings: Settings
) -> None:
    """Real servers keep running while the control plane restarts: the lab's emulated
    BMCs (Redfish and IPMI) come back in the power state hwmgr last recorded."""
    c = bm.cloud
    body = {
        "server": {
            "name": "keep",
            "flavorRef": "bm.gold",
            "imageRef": DEFAULT_IMAGE_ID,
            "networks": "none",
            "min_count": 3,
            "max_count": 3,
        }
    }
    r = await c.client.post(f"{V}/servers", json=body, headers=bm.h(c.demo_token))
    assert r.status_code == 202, r.text
    r = await c.client.get(f"{V}/servers?name=keep", headers=bm.h(c.demo_token))
    uuids = [s["id"] for s in r.json()["servers"]]
    servers = await bm.settle(uuids, c.admin_token, {"ACTIVE"})
    used = {s["OS-EXT-SRV-ATTR:hypervisor_hostname"] for s in servers}
    assert len(used) == 3  # the demo stock: two Redfish nodes and one IPMI node
    await bm.lab.stop()

    db, bus = c.state.db, c.state.bus
    bm.lab = await start_baremetal_lab(small_lab(), settings, bus, db, report_interval=3600)

    driver = bm.lab.drivers["RegionOne"]
    nodes = await driver.nodes(max_age=0)
    powers = {name: await driver.client.power(str(n["uuid"])) for name, n in nodes.items()}
    assert {name for name, power in powers.items() if power == "on"} == used


async def test_a_restart_mid_install_finishes_the_install(bm: BmCloud, settings: Settings) -> None:
    """A machine installing when the lab stopped keeps installing: after the restart its
    emulated installer starts over and calls back, so hwmgr's resumed task ends done."""
    c = bm.cloud
    await bm.lab.hwmgrs["RegionOne"].set_installer(never_call_back=True)
    body = {
        "server": {
            "name": "mid",
            "flavorRef": "bm.gold",
            "imageRef": DEFAULT_IMAGE_ID,
            "networks": "none",
        }
    }
    r = await c.client.post(f"{V}/servers", json=body, headers=bm.h(c.demo_token))
    assert r.status_code == 202, r.text
    client = bm.lab.drivers["RegionOne"].client
    async with asyncio.timeout(60):
        while not (installing := await client.tasks(state="installing")):  # noqa: ASYNC110
            await asyncio.sleep(0.1)
    (task,) = installing
    await bm.lab.stop()

    db, bus = c.state.db, c.state.bus
    bm.lab = await start_baremetal_lab(small_lab(), settings, bus, db, report_interval=3600)

    client = bm.lab.drivers["RegionOne"].client
    async with asyncio.timeout(60):
        while (done := await client.task(str(task["uuid"])))["state"] not in ("done", "failed"):  # noqa: ASYNC110
            await asyncio.sleep(0.1)
    assert done["state"] == "done", done
    assert (await client.node(str(task["node_uuid"])))["provision_state"] == "active"
