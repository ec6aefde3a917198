"""PATCH /v1/nodes/{uuid}: new BMC details, stored encrypted, never echoed, validated."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import pytest

from tests.hwmgr.conftest import BMC_PASSWORD, Lab

NEW_PASSWORD = "rotated-bmc-pw-42"


def _stored(lab: Lab, node_uuid: str) -> tuple[str, str]:
    db = sqlite3.connect(lab.data_dir / "hwmgr.db")
    try:
        row = db.execute(
            "SELECT bmc_password_encrypted, bmc_address FROM nodes WHERE uuid = ?", (node_uuid,)
        ).fetchone()
        dump = "\n".join(db.iterdump())
    finally:
        db.close()
    assert NEW_PASSWORD not in dump
    return str(row[0]), str(row[1])


async def test_patch_moves_the_bmc_and_rotates_the_password(lab: Lab) -> None:
    node = await lab.available("n1")
    before, _ = _stored(lab, node["uuid"])
    r = await lab.client.patch(
        f"/v1/nodes/{node['uuid']}",
        json={"bmc": {"address": "127.0.0.2", "port": 8001, "password": NEW_PASSWORD}},
    )
    assert r.status_code == 200, r.text
    assert NEW_PASSWORD not in r.text and "password" not in r.text
    assert r.json()["bmc"] == {
        "driver": "redfish",
        "address": "127.0.0.2",
        "port": 8001,
        "username": "admin",
        "system_id": "n1",
    }
    assert r.json()["provision_state"] == "available"
    after, address = _stored(lab, node["uuid"])
    assert address == "127.0.0.2" and after != before and NEW_PASSWORD not in after
    # The next BMC call goes to the new endpoint with the new password (which this fake
    # BMC does not accept), and works once the password is the BMC's again.
    power = await lab.client.put(f"/v1/nodes/{node['uuid']}/power", json={"target": "on"})
    assert power.status_code == 502 and "authentication failed" in power.text, power.text
    moved = lab.fleet.machine("127.0.0.2", 8001, "n1")
    assert moved.passwords_seen == [NEW_PASSWORD]
    r = await lab.client.patch(
        f"/v1/nodes/{node['uuid']}", json={"bmc": {"password": BMC_PASSWORD}}
    )
    assert r.status_code == 200, r.text
    power = await lab.client.put(f"/v1/nodes/{node['uuid']}/power", json={"target": "on"})
    assert power.status_code == 200, power.text
    assert moved.passwords_seen[-1] == BMC_PASSWORD and moved.power == "on"
    assert lab.fleet.machine("127.0.0.1", 8000, "n1").power == "off"


async def test_patch_to_ipmi_drops_the_system_id(lab: Lab) -> None:
    node = await lab.enroll("n1")
    r = await lab.client.patch(
        f"/v1/nodes/{node['uuid']}",
        json={"bmc": {"driver": "ipmi", "port": 6230, "system_id": None}},
    )
    assert r.status_code == 200, r.text
    assert r.json()["bmc"]["driver"] == "ipmi" and r.json()["bmc"]["system_id"] is None


@pytest.mark.parametrize(
    ("bmc", "field"),
    [
        ({}, "bmc"),
        ({"port": 0}, "bmc.port"),
        ({"port": 70000}, "bmc.port"),
        ({"driver": "amt"}, "bmc.driver"),
        ({"address": ""}, "bmc.address"),
        ({"password": ""}, "bmc.password"),
        ({"system_id": None}, "bmc.system_id"),
        ({"colour": "red"}, "bmc.colour"),
    ],
)
async def test_patch_validation_names_the_field_and_changes_nothing(
    lab: Lab, bmc: dict[str, Any], field: str
) -> None:
    node = await lab.enroll("n1")
    r = await lab.client.patch(f"/v1/nodes/{node['uuid']}", json={"bmc": bmc})
    assert r.status_code == 400, r.text
    assert field in r.json()["error"]["message"]
    shown = (await lab.client.get(f"/v1/nodes/{node['uuid']}")).json()
    assert shown["bmc"] == node["bmc"]


async def test_patch_between_a_tasks_bmc_steps_is_used_by_its_next_step(lab: Lab) -> None:
    """While the installer runs no BMC step holds the node: new BMC details are taken
    (as Ironic takes driver info outside its lock) and the task's reboot uses them."""
    node = await lab.available("n1")
    lab.installer.never_call_back = True
    task = await lab.deploy(node["uuid"])
    await lab.wait_task(task["uuid"], {"installing"})
    r = await lab.client.patch(f"/v1/nodes/{node['uuid']}", json={"bmc": {"port": 9000}})
    assert r.status_code == 200, r.text
    assert r.json()["bmc"]["port"] == 9000
    script = (await lab.client.get(f"/v1/boot/{node['uuid']}.ipxe")).text
    token = script.split("stockyard.token=")[1].split()[0]
    r = await lab.client.post(
        f"/v1/tasks/{task['uuid']}/callback",
        json={"status": "success"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 204, r.text
    assert (await lab.wait_task(task["uuid"]))["state"] == "done"
    moved = lab.fleet.machine("127.0.0.1", 9000, "n1")
    assert moved.passwords_seen and moved.boots == ["disk"]  # the reboot went to port 9000
    assert lab.fleet.machine("127.0.0.1", 8000, "n1").boots == ["pxe"]
    missing = await lab.client.patch("/v1/nodes/nope", json={"bmc": {"port": 9000}})
    assert missing.status_code == 404


async def test_patch_is_refused_during_a_bmc_step(lab: Lab) -> None:
    node = await lab.available("n1")
    machine = lab.fleet.machine("127.0.0.1", 8000, "n1")
    machine.pxe_gate = asyncio.Event()
    task = await lab.deploy(node["uuid"])
    await lab.wait_task(task["uuid"], {"setting_pxe"})
    r = await lab.client.patch(f"/v1/nodes/{node['uuid']}", json={"bmc": {"port": 9000}})
    assert r.status_code == 409, r.text
    assert "a BMC step is in progress" in r.json()["error"]["message"]
    machine.pxe_gate.set()
    assert (await lab.wait_task(task["uuid"]))["state"] == "done"
    assert (await lab.node(node["uuid"]))["bmc"]["port"] == 8000  # unchanged


async def test_openapi_documents_the_patch(lab: Lab) -> None:
    spec = (await lab.client.get("/openapi.json")).json()
    patch = spec["paths"]["/v1/nodes/{node_uuid}"]["patch"]
    assert "BMC" in patch["description"]
    schema = spec["components"]["schemas"]["BMCPatch"]
    assert set(schema["properties"]) == {
        "driver", "address", "port", "username", "password", "system_id"
    }  # fmt: skip
