"""PATCH /v1/nodes/{uuid}: new BMC details, stored encrypted, never echoed, validated."""

from __future__ import annotations

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


async def test_patch_is_refused_while_a_task_owns_the_node(lab: Lab) -> None:
    node = await lab.available("n1")
    lab.installer.never_call_back = True
    task = await lab.deploy(node["uuid"])
    await lab.wait_task(task["uuid"], {"installing"})
    r = await lab.client.patch(f"/v1/nodes/{node['uuid']}", json={"bmc": {"port": 9000}})
    assert r.status_code == 409, r.text
    assert "deploying" in r.json()["error"]["message"]
    missing = await lab.client.patch("/v1/nodes/nope", json={"bmc": {"port": 9000}})
    assert missing.status_code == 404


async def test_openapi_documents_the_patch(lab: Lab) -> None:
    spec = (await lab.client.get("/openapi.json")).json()
    patch = spec["paths"]["/v1/nodes/{node_uuid}"]["patch"]
    assert "BMC" in patch["description"]
    schema = spec["components"]["schemas"]["BMCPatch"]
    assert set(schema["properties"]) == {
        "driver", "address", "port", "username", "password", "system_id"
    }  # fmt: skip
