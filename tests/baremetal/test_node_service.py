"""Deleting a baremetal node's ``nova-compute`` service takes the node out of the cloud
and out of its region's hwmgr, as ``DELETE /stock/v1/nodes/{uuid}`` does; Nova's 409s
while it hosts a server or hwmgr still works on it, and nothing half-written then."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from stockyard.bus.contract import InstanceSpec
from stockyard.compute.drivers.baremetal_client import HwmgrCallError
from stockyard.image.defaults import DEFAULT_IMAGE_ID
from stockyard.settings import Settings
from tests.baremetal.cloudrig import BmRig, owned_and_spare, rig_settings_in, running_rig
from tests.compute_api.helpers import V
from tests.conftest import Cloud

R1, R2 = "regionone-az1-r1-bm01", "regionone-az1-r2-bm01"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return rig_settings_in(tmp_path)


@pytest.fixture
async def rig(cloud: Cloud, settings: Settings) -> AsyncIterator[BmRig]:
    async with running_rig(cloud, settings, owned_and_spare("redfish")) as rig:
        yield rig


async def _delete(rig: BmRig, node: str) -> Any:
    url = f"{V}/os-services/{await rig.host_uuid(node)}"
    return await rig.cloud.client.delete(url, headers=rig.admin)


async def _service(rig: BmRig, node: str) -> list[dict[str, Any]]:
    r = await rig.cloud.client.get(
        f"{V}/os-services", params={"host": node, "binary": "nova-compute"}, headers=rig.admin
    )
    assert r.status_code == 200, r.text
    return list(r.json()["services"])


def _conflict(r: Any) -> str:
    assert r.status_code == 409, r.text
    body = r.json()["conflictingRequest"]
    assert body["code"] == 409, body
    return str(body["message"])


async def test_deleting_a_nodes_service_removes_it_from_hwmgr_too(rig: BmRig) -> None:
    server = await rig.create("db")
    (shown,) = await rig.settle([server])
    assert (shown["status"], shown["OS-EXT-SRV-ATTR:host"]) == ("ACTIVE", R1), shown
    message = _conflict(await _delete(rig, R1))
    assert message.startswith("Unable to delete compute service that is hosting instances")
    assert (await rig.hwmgr.node(await rig.host_uuid(R1)))["provision_state"] == "active"

    # A deployment the cloud does not track: hwmgr refuses to delete a node it runs on.
    spare = await rig.host_uuid(R2)
    orphan = InstanceSpec(uuid=str(uuid.uuid4()), image_ref=DEFAULT_IMAGE_ID, host=R2, node=R2)
    deployed = rig.lab.drivers["RegionOne"].for_node(R2)
    await deployed.spawn(orphan)
    assert "release it first" in _conflict(await _delete(rig, R2))
    (service,) = await _service(rig, R2)
    assert (service["status"], service["disabled_reason"]) == ("enabled", None), service
    assert (await rig.hwmgr.node(spare))["provision_state"] == "active"

    await deployed.destroy(orphan)
    r = await _delete(rig, R2)
    assert r.status_code == 204, r.text
    assert await _service(rig, R2) == []
    assert R2 not in await rig.stock_nodes()
    with pytest.raises(HwmgrCallError) as gone:
        await rig.hwmgr.node(spare)
    assert gone.value.status == 404
    r = await rig.cloud.client.delete(f"{V}/os-services/{spare}", headers=rig.admin)
    assert r.status_code == 404, r.text
