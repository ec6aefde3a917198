"""A baremetal server switched off at its BMC shows SHUTOFF through the compute API with no
op on it: hwmgr's power sync records the node's power, the node's agent reports it from
hwmgr's node list, the conductor stops the instance (Nova's ``_sync_power_states``).

Real protocol endpoints throughout: the lab's IPMI and Redfish emulators, hwmgr over HTTP,
the baremetal agents on the bus, the conductor and the compute API.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from stockyard.settings import Settings
from tests.baremetal.cloudrig import (
    BmRig,
    bm_lab,
    rig_settings_in,
    running_rig,
    set_hwmgr_env,
)
from tests.compute_api.helpers import V
from tests.conftest import Cloud

IPMI_NODE, REDFISH_NODE = "regionone-az1-r1-bm01", "regionone-az1-r2-bm01"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return rig_settings_in(tmp_path)


@pytest.fixture(autouse=True)
def _hwmgr_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # A power sync pass every second instead of every minute.
    set_hwmgr_env(monkeypatch, STOCKYARD_HWMGR_POWER_SYNC_INTERVAL_SECONDS="1")


@pytest.fixture
async def rig(cloud: Cloud, settings: Settings) -> AsyncIterator[BmRig]:
    """demo owns an IPMI node in r1 and a Redfish node in r2; agents report every second."""
    lab = bm_lab(
        [
            ("r1", [{"resource_class": "BM_GOLD", "bmc": "ipmi", "stock": "demo"}]),
            ("r2", [{"resource_class": "BM_GOLD", "bmc": "redfish", "stock": "demo"}]),
        ]
    )
    async with running_rig(cloud, settings, lab, report_interval=1) as running:
        yield running


async def _redfish_reset(rig: BmRig, node: str, reset_type: str) -> None:
    """Someone at the BMC's own interface: the cloud is not involved."""
    emulator = rig.lab.redfish
    assert emulator is not None
    auth = (emulator.username, emulator.password.get_secret_value())
    path = emulator.system_path(rig.lab.systems[node])
    async with httpx.AsyncClient(base_url=emulator.url, auth=auth) as bmc:
        r = await bmc.post(f"{path}/Actions/ComputerSystem.Reset", json={"ResetType": reset_type})
    assert r.status_code < 300, r.text


async def _until_status(
    rig: BmRig,
    uuids: list[str],
    status: str,
    timeout: float = 120,  # noqa: ASYNC109
) -> list[dict[str, Any]]:
    async with asyncio.timeout(timeout):
        while True:
            servers = [await rig.server(u, rig.cloud.admin_token) for u in uuids]
            if all(s["status"] == status for s in servers):
                return servers
            await asyncio.sleep(0.3)


async def _actions(rig: BmRig, uuid: str) -> list[str]:
    r = await rig.cloud.client.get(f"{V}/servers/{uuid}/os-instance-actions", headers=rig.admin)
    assert r.status_code == 200, r.text
    return sorted(a["action"] for a in r.json()["instanceActions"])


async def test_servers_switched_off_at_their_bmcs_become_shutoff_without_an_op(
    rig: BmRig,
) -> None:
    uuids = [await rig.create("db1"), await rig.create("db2")]
    servers = await rig.settle(uuids)
    by_node = {s["OS-EXT-SRV-ATTR:host"]: s["id"] for s in servers}
    assert set(by_node) == {IPMI_NODE, REDFISH_NODE}, servers
    assert all(s["status"] == "ACTIVE" for s in servers)

    assert rig.lab.ipmi is not None
    await rig.lab.ipmi.set(IPMI_NODE, "power", "off")  # someone pressed the button
    await _redfish_reset(rig, REDFISH_NODE, "ForceOff")

    off = await _until_status(rig, uuids, "SHUTOFF")
    assert {s["OS-EXT-STS:vm_state"] for s in off} == {"stopped"}
    assert {s["OS-EXT-STS:power_state"] for s in off} == {4}  # SHUTDOWN
    assert all(s["OS-EXT-STS:task_state"] is None for s in off)
    # hwmgr recorded it, and nobody powered the machines back on or sent an op.
    for node in (IPMI_NODE, REDFISH_NODE):
        hw = await rig.hwmgr.node(await rig.host_uuid(node))
        assert (hw["provision_state"], hw["power_state"]) == ("active", "off"), hw
    assert (await rig.lab.ipmi.state(IPMI_NODE))["power"] == "off"
    for uuid in uuids:
        assert await _actions(rig, uuid) == ["create"]

    # Back on at the BMC: the conductor follows the other way too.
    await rig.lab.ipmi.set(IPMI_NODE, "power", "on")
    (back,) = await _until_status(rig, [by_node[IPMI_NODE]], "ACTIVE")
    assert back["OS-EXT-STS:power_state"] == 1  # RUNNING
