"""Enroll, credentials at rest, validation, manage, power, boot device, delete, auth."""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

import httpx
import pytest

from tests.hwmgr.conftest import BMC_PASSWORD, TOKEN, Lab


async def test_enroll_encrypts_password_at_rest_and_never_returns_it(
    lab: Lab, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    node = await lab.enroll("n1")
    assert node["provision_state"] == "enrolled"
    assert node["bmc"] == {
        "driver": "redfish",
        "address": "127.0.0.1",
        "port": 8000,
        "username": "admin",
        "system_id": "n1",
    }
    listed = await lab.client.get("/v1/nodes")
    shown = await lab.client.get(f"/v1/nodes/{node['uuid']}")
    for response in (listed, shown):
        assert BMC_PASSWORD not in response.text
        assert "password" not in response.text
    db = sqlite3.connect(lab.data_dir / "hwmgr.db")
    try:
        row = db.execute(
            "SELECT bmc_password_encrypted FROM nodes WHERE uuid = ?", (node["uuid"],)
        ).fetchone()
        dump = "\n".join(db.iterdump())
    finally:
        db.close()
    assert row[0] and BMC_PASSWORD not in row[0]
    assert BMC_PASSWORD not in dump
    # The BMC still receives the clear password (decrypted only for the call).
    await lab.client.post(f"/v1/nodes/{node['uuid']}/manage")
    assert lab.fleet.machine("127.0.0.1", 8000, "n1").passwords_seen[-1] == BMC_PASSWORD
    assert BMC_PASSWORD not in caplog.text


async def test_key_file_is_private(lab: Lab) -> None:
    key_file = lab.data_dir / "hwmgr-secret.key"
    # The fixture passes the key by setting; the file appears only without it.
    assert not key_file.exists()
    from stockyard.hwmgr.crypto import load_key

    load_key(None, lab.data_dir)
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert load_key(None, lab.data_dir) == key_file.read_bytes().strip()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": ""}, "name"),
        ({"cpus": 0}, "cpus"),
        ({"macs": ["zz"]}, "macs"),
        ({"macs": []}, "macs"),
        ({"resource_class": "gold"}, "resource_class"),
        ({"bmc": {"driver": "amt"}}, "bmc.driver"),
        ({"bmc": {"port": 70000}}, "bmc.port"),
        ({"bmc": {"system_id": None}}, "system_id"),
        ({"bogus": 1}, "bogus"),
    ],
)
async def test_enroll_validation_names_field_and_writes_nothing(
    lab: Lab, change: dict[str, Any], field: str
) -> None:
    body: dict[str, Any] = {
        "name": "n1",
        "region": "RegionOne",
        "az": "az1",
        "rack": "r1",
        "resource_class": "BM_GOLD",
        "cpus": 8,
        "memory_mb": 1024,
        "disk_gb": 10,
        "macs": ["52:54:00:00:00:01"],
        "bmc": {
            "driver": "redfish",
            "address": "127.0.0.1",
            "port": 8000,
            "system_id": "n1",
            "username": "admin",
            "password": BMC_PASSWORD,
        },
    }
    for key, value in change.items():
        if key == "bmc":
            body["bmc"].update(value)
        else:
            body[key] = value
    r = await lab.client.post("/v1/nodes", json=body)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid_input"
    assert field in error["message"]
    assert BMC_PASSWORD not in r.text
    assert (await lab.client.get("/v1/nodes")).json()["nodes"] == []


async def test_duplicate_name_conflicts(lab: Lab) -> None:
    await lab.enroll("n1")
    r = await lab.client.post(
        "/v1/nodes",
        json={**(await lab.node((await lab.client.get("/v1/nodes")).json()["nodes"][0]["uuid"]))},
    )
    assert r.status_code == 400  # a view is not an enrollment body
    body = {
        "name": "n1",
        "region": "RegionOne",
        "az": "az1",
        "rack": "r1",
        "resource_class": "BM_GOLD",
        "cpus": 8,
        "memory_mb": 1024,
        "disk_gb": 10,
        "macs": ["52:54:00:00:00:02"],
        "bmc": {
            "driver": "ipmi",
            "address": "127.0.0.1",
            "port": 623,
            "username": "a",
            "password": "b",
        },
    }
    r = await lab.client.post("/v1/nodes", json=body)
    assert r.status_code == 409
    assert "name" in r.json()["error"]["message"]


async def test_filters(lab: Lab) -> None:
    await lab.enroll("a", rack="r1", mac="52:54:00:00:00:0a")
    b = await lab.enroll("b", rack="r2", mac="52:54:00:00:00:0b")
    await lab.client.post(f"/v1/nodes/{b['uuid']}/manage")

    def names(r: httpx.Response) -> list[str]:
        return [n["name"] for n in r.json()["nodes"]]

    assert names(await lab.client.get("/v1/nodes", params={"rack": "r2"})) == ["b"]
    assert names(await lab.client.get("/v1/nodes", params={"provision_state": "enrolled"})) == ["a"]
    assert names(await lab.client.get("/v1/nodes", params={"az": "az1"})) == ["a", "b"]
    assert names(await lab.client.get("/v1/nodes", params={"resource_class": "X"})) == []
    assert names(await lab.client.get("/v1/nodes", params={"region": "RegionOne"})) == ["a", "b"]
    bad = await lab.client.get("/v1/nodes", params={"provision_state": "weird"})
    assert bad.status_code == 400 and "provision_state" in bad.json()["error"]["message"]


async def test_manage_checks_bmc(lab: Lab) -> None:
    good = await lab.available("good", mac="52:54:00:00:00:0a")
    assert good["provision_state"] == "available"
    assert good["power_state"] == "off"
    bad = await lab.enroll("bad", password="wrong", mac="52:54:00:00:00:0b")
    r = await lab.client.post(f"/v1/nodes/{bad['uuid']}/manage")
    assert r.status_code == 502
    assert "authentication failed" in r.json()["error"]["message"]
    after = await lab.node(bad["uuid"])
    assert after["provision_state"] == "enrolled"
    assert "authentication failed" in after["last_error"]
    again = await lab.client.post(f"/v1/nodes/{good['uuid']}/manage")
    assert again.status_code == 409


async def test_power_and_boot_device(lab: Lab) -> None:
    node = await lab.available("n1")
    url = f"/v1/nodes/{node['uuid']}"
    assert (await lab.client.get(f"{url}/power")).json() == {"power_state": "off"}
    r = await lab.client.put(f"{url}/power", json={"target": "on"})
    assert r.status_code == 200 and r.json() == {"power_state": "on"}
    assert (await lab.client.get(f"{url}/power")).json() == {"power_state": "on"}
    r = await lab.client.put(f"{url}/power", json={"target": "cycle"})
    assert r.json() == {"power_state": "on"}
    r = await lab.client.put(f"{url}/boot_device", json={"device": "pxe", "persistent": False})
    assert r.status_code == 204
    assert lab.fleet.machine("127.0.0.1", 8000, "n1").pxe_once
    r = await lab.client.put(f"{url}/power", json={"target": "off"})
    assert r.json() == {"power_state": "off"}
    assert (await lab.node(node["uuid"]))["power_state"] == "off"
    bad = await lab.client.put(f"{url}/power", json={"target": "sideways"})
    assert bad.status_code == 400 and "target" in bad.json()["error"]["message"]
    bad = await lab.client.put(f"{url}/boot_device", json={"device": "disk"})
    assert bad.status_code == 400 and "device" in bad.json()["error"]["message"]
    bad = await lab.client.put(f"{url}/boot_device", json={"device": "pxe", "persistent": True})
    assert bad.status_code == 400 and "persistent" in bad.json()["error"]["message"]
    lab.fleet.machine("127.0.0.1", 8000, "n1").error = "IPMI timeout"
    r = await lab.client.get(f"{url}/power")
    assert r.status_code == 502 and "IPMI timeout" in r.json()["error"]["message"]


async def test_deploy_validation_and_state_conflicts(lab: Lab) -> None:
    enrolled = await lab.enroll("n1")
    url = f"/v1/nodes/{enrolled['uuid']}/deploy"
    good = {"image_url": lab.image.url, "image_checksum": lab.image.checksum}
    r = await lab.client.post(url, json=good)
    assert r.status_code == 409  # enrolled, not available
    for body, field in (
        ({"image_url": lab.image.url}, "image_checksum"),
        ({**good, "image_checksum": "md5:abc"}, "image_checksum"),
        ({**good, "image_url": "ftp://x"}, "image_url"),
    ):
        r = await lab.client.post(url, json=body)
        assert r.status_code == 400 and field in r.json()["error"]["message"], r.text
    assert (await lab.client.get("/v1/tasks")).json()["tasks"] == []
    missing = await lab.client.post("/v1/nodes/nope/deploy", json=good)
    assert missing.status_code == 404
    assert (await lab.client.post(f"/v1/nodes/{enrolled['uuid']}/release")).status_code == 409
    assert (await lab.client.get("/v1/tasks/nope")).status_code == 404


async def test_double_deploy_one_wins(lab: Lab) -> None:
    node = await lab.available("n1")
    lab.installer.never_call_back = True
    await lab.deploy(node["uuid"])
    r = await lab.client.post(
        f"/v1/nodes/{node['uuid']}/deploy",
        json={"image_url": lab.image.url, "image_checksum": lab.image.checksum},
    )
    assert r.status_code == 409
    # Busy nodes refuse direct BMC calls and deletion.
    assert (
        await lab.client.put(f"/v1/nodes/{node['uuid']}/power", json={"target": "off"})
    ).status_code == 409
    assert (await lab.client.delete(f"/v1/nodes/{node['uuid']}")).status_code == 409


async def test_delete(lab: Lab) -> None:
    node = await lab.enroll("n1")
    assert (await lab.client.delete(f"/v1/nodes/{node['uuid']}")).status_code == 204
    assert (await lab.client.get(f"/v1/nodes/{node['uuid']}")).status_code == 404


async def test_service_token_required(lab: Lab) -> None:
    for headers in ({"X-Auth-Token": "wrong"}, {"X-Auth-Token": ""}):
        r = await lab.client.get("/v1/nodes", headers=headers)
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "unauthorized"
    r = await lab.client.get(
        "/v1/nodes", headers={"X-Auth-Token": "", "Authorization": f"Bearer {TOKEN}"}
    )
    assert r.status_code == 200


async def test_openapi_documents_routes(lab: Lab) -> None:
    spec = (await lab.client.get("/openapi.json")).json()
    for path in (
        "/v1/nodes",
        "/v1/nodes/{node_uuid}/deploy",
        "/v1/nodes/{node_uuid}/power",
        "/v1/boot/{node_uuid}.ipxe",
        "/v1/images/{checksum}",
        "/v1/tasks/{task_uuid}/callback",
    ):
        assert path in spec["paths"]
