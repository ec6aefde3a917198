"""Many parallel creates on scarce stock: 20 servers asked for at once on 6 free nodes
end as exactly 6 ACTIVE and 14 ERROR "No valid host", and no node ever holds two
servers (checked in the cloud's allocations and in hwmgr's install tasks)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from stockyard.compute.drivers.baremetal_nodes import instance_of
from stockyard.db.models import Allocation, Host
from stockyard.settings import Settings
from tests.baremetal.cloudrig import (
    STOCK,
    BmRig,
    bm_lab,
    rig_settings_in,
    running_rig,
    set_hwmgr_env,
)
from tests.compute_api.helpers import V
from tests.conftest import Cloud

NODES, CREATES = 6, 20


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return rig_settings_in(tmp_path)


@pytest.fixture
async def six_nodes(
    cloud: Cloud, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[BmRig]:
    """demo owns 6 Redfish nodes, two per rack; quota is not what limits the creates."""
    set_hwmgr_env(monkeypatch)
    gold = {"resource_class": "BM_GOLD", "bmc": "redfish", "stock": "demo", "count": 2}
    lab = bm_lab([(f"r{i}", [gold]) for i in (1, 2, 3)])
    async with running_rig(cloud, settings, lab) as rig:
        r = await cloud.client.put(
            f"{V}/os-quota-sets/{cloud.seeded.demo_project_id}",
            json={"quota_set": {"instances": -1, "cores": -1, "ram": -1}},
            headers=rig.admin,
        )
        assert r.status_code == 200, r.text
        yield rig


async def test_twenty_parallel_creates_on_six_nodes(six_nodes: BmRig) -> None:
    rig = six_nodes
    uuids = await asyncio.gather(*(rig.create(f"c{i:02d}") for i in range(CREATES)))
    servers = await rig.settle(list(uuids), timeout=600)

    by_status = Counter(s["status"] for s in servers)
    assert by_status == {"ACTIVE": NODES, "ERROR": CREATES - NODES}, by_status
    active = {s["id"]: s["OS-EXT-SRV-ATTR:host"] for s in servers if s["status"] == "ACTIVE"}
    assert len(set(active.values())) == NODES, active  # one server per node
    for s in servers:
        if s["status"] == "ERROR":
            assert "No valid host" in s["fault"]["message"], s["fault"]
            assert s["OS-EXT-SRV-ATTR:host"] is None

    # The cloud's claims: one allocation per node, held by the ACTIVE servers only.
    async with rig.cloud.state.db.session() as session:
        rows = (
            await session.execute(
                select(Allocation.instance_uuid, Host.name).join(
                    Host, Host.id == Allocation.host_id
                )
            )
        ).all()
    assert dict(rows) == active
    # hwmgr: each node has exactly one successful install, for the server it holds.
    for uuid, node in active.items():
        done = [t for t in await rig.install_tasks(node) if t["state"] == "done"]
        assert [instance_of(t["image_url"]) for t in done] == [uuid], (node, done)
        hw = await rig.hwmgr.node(await rig.host_uuid(node))
        assert hw["provision_state"] == "active"

    r = await rig.cloud.client.get(f"{STOCK}/stock", headers=rig.h())
    assert (r.json()["stock"]["free"], r.json()["stock"]["in_use"]) == (0, NODES)

    # Deleting them all cleans the nodes back into demo's free stock.
    for uuid in uuids:
        r = await rig.cloud.client.delete(f"{V}/servers/{uuid}", headers=rig.h())
        assert r.status_code == 204, r.text
    async with asyncio.timeout(300):
        while True:
            r = await rig.cloud.client.get(f"{STOCK}/stock", headers=rig.h())
            stock = r.json()["stock"]
            if stock["free"] == NODES:
                break
            await asyncio.sleep(0.3)
    assert stock["in_use"] == 0
    nodes = await rig.hwmgr.nodes()
    assert {n["provision_state"] for n in nodes} == {"available"}
