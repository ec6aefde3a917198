"""The attachments API (3.27-3.44), the older attach actions, attachments in volume show,
and the statuses they move a volume through."""

from __future__ import annotations

import uuid

from tempest.lib.api_schema.response.volume import volumes as schema

from stockyard.volume.service import VolumeService
from tests.conftest import Cloud
from tests.volume_api.helpers import V3, conform, create_volume, vh, wait_status

CONNECTOR = {"host": "hv-1", "initiator": "iqn.1993-08.org.debian:01:abc", "mountpoint": "/dev/vdb"}


async def _ready(cloud: Cloud) -> tuple[str, str]:
    vol = await create_volume(cloud, cloud.demo_token)
    path = f"{V3}/volumes/{vol['id']}"
    await wait_status(cloud, cloud.demo_token, path, "volume", "available")
    return vol["id"], path


async def _status(cloud: Cloud, path: str) -> str:
    resp = await cloud.client.get(path, headers=vh(cloud.demo_token))
    return str(resp.json()["volume"]["status"])


async def test_attachment_reserve_connect_complete_delete(
    cloud: Cloud, volumes: VolumeService
) -> None:
    vid, path = await _ready(cloud)
    server = str(uuid.uuid4())
    body = {"attachment": {"volume_uuid": vid, "instance_uuid": server}}
    old = await cloud.client.post(f"{V3}/attachments", json=body, headers=vh(cloud.demo_token))
    assert old.status_code == 404  # the API begins at 3.27
    h = vh(cloud.demo_token, "3.27")
    created = await cloud.client.post(f"{V3}/attachments", json=body, headers=h)
    assert created.status_code == 200, created.text
    att = created.json()["attachment"]
    assert att["status"] == "reserved" and att["instance"] == server
    assert att["volume_id"] == vid and att["connection_info"] is None
    assert await _status(cloud, path) == "reserved"
    again = await cloud.client.post(f"{V3}/attachments", json=body, headers=h)
    assert again.status_code == 400 and "status must be available" in again.text
    no_connector = await cloud.client.put(
        f"{V3}/attachments/{att['id']}", json={"attachment": {}}, headers=h
    )
    assert no_connector.status_code == 400 and "connector" in no_connector.text

    updated = await cloud.client.put(
        f"{V3}/attachments/{att['id']}", json={"attachment": {"connector": CONNECTOR}}, headers=h
    )
    assert updated.status_code == 200, updated.text
    info = updated.json()["attachment"]["connection_info"]
    assert info["driver_volume_type"] == "file" and info["serial"] == vid
    assert info["data"]["path"].endswith(vid) or vid in info["data"]["path"]
    assert updated.json()["attachment"]["status"] == "attaching"
    assert await _status(cloud, path) == "attaching"

    complete = f"{V3}/attachments/{att['id']}/action"
    too_old = await cloud.client.post(complete, json={"os-complete": None}, headers=h)
    assert too_old.status_code == 404  # os-complete is 3.44
    done = await cloud.client.post(
        complete, json={"os-complete": None}, headers=vh(cloud.demo_token, "3.44")
    )
    assert done.status_code == 204
    shown = conform(schema.show_volume, await cloud.client.get(path, headers=vh(cloud.demo_token)))[
        "volume"
    ]
    assert shown["status"] == "in-use"
    assert [(a["server_id"], a["attachment_id"], a["host_name"], a["device"])
            for a in shown["attachments"]] == [(server, att["id"], "hv-1", "/dev/vdb")]  # fmt: skip
    refused = await cloud.client.delete(path, headers=vh(cloud.demo_token))
    assert refused.status_code == 400

    listed = await cloud.client.get(f"{V3}/attachments?volume_id={vid}", headers=h)
    assert [a["id"] for a in listed.json()["attachments"]] == [att["id"]]
    assert set(listed.json()["attachments"][0]) == {"id", "status", "instance", "volume_id"}
    detail = await cloud.client.get(f"{V3}/attachments/detail", headers=h)
    assert detail.json()["attachments"][0]["status"] == "attached"

    deleted = await cloud.client.delete(f"{V3}/attachments/{att['id']}", headers=h)
    assert deleted.status_code == 200 and deleted.json() == {"attachments": []}
    shown = (await cloud.client.get(path, headers=vh(cloud.demo_token))).json()["volume"]
    assert shown["status"] == "available" and shown["attachments"] == []
    gone = await cloud.client.get(f"{V3}/attachments/{att['id']}", headers=h)
    assert gone.status_code == 404


async def test_attachment_create_with_connector(cloud: Cloud, volumes: VolumeService) -> None:
    vid, path = await _ready(cloud)
    body = {
        "attachment": {
            "volume_uuid": vid,
            "instance_uuid": str(uuid.uuid4()),
            "connector": CONNECTOR,
        }
    }
    resp = await cloud.client.post(
        f"{V3}/attachments", json=body, headers=vh(cloud.demo_token, "3.44")
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["attachment"]["status"] == "attaching"
    assert resp.json()["attachment"]["connection_info"]["driver_volume_type"] == "file"
    assert await _status(cloud, path) == "attaching"


async def test_old_style_attach_actions(cloud: Cloud, volumes: VolumeService) -> None:
    _vid, path = await _ready(cloud)
    h = vh(cloud.demo_token)
    action = f"{path}/action"

    async def act(name: str, args: object, code: int = 202) -> dict[str, object]:
        resp = await cloud.client.post(action, json={name: args}, headers=h)
        assert resp.status_code == code, (name, resp.text)
        return resp.json() if resp.content else {}

    conform(
        schema.reserve_volume, await cloud.client.post(action, json={"os-reserve": {}}, headers=h)
    )
    assert await _status(cloud, path) == "attaching"
    await act("os-reserve", {}, 400)
    conform(
        schema.unreserve_volume,
        await cloud.client.post(action, json={"os-unreserve": {}}, headers=h),
    )
    assert await _status(cloud, path) == "available"

    await act("os-reserve", {})
    info = await act("os-initialize_connection", {"connector": CONNECTOR}, 200)
    assert info["connection_info"]["driver_volume_type"] == "file"  # type: ignore[index]
    await act("os-initialize_connection", {}, 400)
    server = str(uuid.uuid4())
    await act("os-attach", {"instance_uuid": server, "mountpoint": "/dev/vdc", "mode": "rw"})
    shown = (await cloud.client.get(path, headers=h)).json()["volume"]
    assert shown["status"] == "in-use"
    assert shown["attachments"][0]["server_id"] == server
    assert shown["attachments"][0]["device"] == "/dev/vdc"

    await act("os-begin_detaching", {})
    assert await _status(cloud, path) == "detaching"
    await act("os-roll_detaching", {})
    assert await _status(cloud, path) == "in-use"
    await act("os-begin_detaching", {})
    await act("os-terminate_connection", {"connector": CONNECTOR})
    await act("os-detach", {"attachment_id": str(uuid.uuid4())}, 400)
    await act("os-detach", {"attachment_id": shown["attachments"][0]["attachment_id"]})
    shown = (await cloud.client.get(path, headers=h)).json()["volume"]
    assert shown["status"] == "available" and shown["attachments"] == []
    # Detaching a detached volume is Cinder's "already detached": nothing to do.
    await act("os-detach", {})
    assert await _status(cloud, path) == "available"
    # os-attach without a reserve still attaches, as Cinder's does.
    await act("os-attach", {"instance_uuid": server, "mountpoint": "/dev/vdb", "mode": "xx"}, 400)
    await act("os-attach", {"instance_uuid": server, "mountpoint": "/dev/vdb"})
    assert await _status(cloud, path) == "in-use"
