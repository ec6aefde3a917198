"""Nova's os-volume_attachments: views per microversion and the refusals (the attach
itself, driven by the conductor and an agent, is in tests/e2e/test_volume_cli.py)."""

from __future__ import annotations

import uuid
from typing import Any

from tempest.lib.api_schema.response.compute.v2_1 import servers as s21
from tempest.lib.api_schema.response.compute.v2_79 import servers as s279
from tempest.lib.api_schema.response.compute.v2_89 import servers as s289

from stockyard.db.models import Instance
from stockyard.volume.service import VolumeService
from tests.conftest import Cloud
from tests.volume_api.helpers import V3, conform, create_volume, vh, wait_status

V = "/compute/v2.1"


async def _server(cloud: Cloud, **fields: Any) -> str:
    sid = str(uuid.uuid4())
    values: dict[str, Any] = {
        "uuid": sid,
        "name": "vm",
        "project_id": cloud.seeded.demo_project_id,
        "user_id": cloud.seeded.demo_user_id,
        "flavor_id": "1",
        "flavor": {"id": "1", "name": "f", "vcpus": 1, "ram": 512, "disk": 1, "extra_specs": {}},
        "vm_state": "active",
        "host": "h0",
    }
    values.update(fields)
    async with cloud.state.db.session() as s:
        s.add(Instance(**values))
    return sid


async def _volume(cloud: Cloud) -> str:
    vol = await create_volume(cloud, cloud.demo_token)
    await wait_status(cloud, cloud.demo_token, f"{V3}/volumes/{vol['id']}", "volume", "available")
    return str(vol["id"])


async def test_attach_views_and_refusals(cloud: Cloud, volumes: VolumeService) -> None:
    sid, vid = await _server(cloud), await _volume(cloud)
    path = f"{V}/servers/{sid}/os-volume_attachments"
    h79 = cloud.headers(cloud.demo_token, "2.79")
    body = {"volumeAttachment": {"volumeId": vid, "tag": "data", "delete_on_termination": True}}
    too_old = await cloud.client.post(
        path, json=body, headers=cloud.headers(cloud.demo_token, "2.48")
    )
    assert too_old.status_code == 400 and "tag" in too_old.text
    att = conform(s279.attach_volume, await cloud.client.post(path, json=body, headers=h79))
    att = att["volumeAttachment"]
    assert (att["device"], att["tag"], att["delete_on_termination"]) == ("/dev/vdb", "data", True)
    volume = (await cloud.client.get(f"{V3}/volumes/{vid}", headers=vh(cloud.demo_token))).json()
    assert volume["volume"]["status"] == "attaching"
    again = await cloud.client.post(path, json=body, headers=h79)
    assert again.status_code == 400 and "already attached" in again.text

    listed = conform(
        s289.list_volume_attachments,
        await cloud.client.get(path, headers=cloud.headers(cloud.demo_token, "2.89")),
    )
    assert [a["volumeId"] for a in listed["volumeAttachments"]] == [vid]
    conform(
        s21.show_volume_attachment,
        await cloud.client.get(f"{path}/{vid}", headers=cloud.headers(cloud.demo_token)),
    )
    missing = await cloud.client.get(f"{path}/{uuid.uuid4()}", headers=h79)
    assert missing.status_code == 404

    # PUT: delete_on_termination from 2.85; swapping is an admin's, and refused here.
    h85 = cloud.headers(cloud.demo_token, "2.85")
    put = {"volumeAttachment": {"volumeId": vid, "delete_on_termination": False}}
    assert (await cloud.client.put(f"{path}/{vid}", json=put, headers=h85)).status_code == 202
    shown = (await cloud.client.get(f"{path}/{vid}", headers=h85)).json()["volumeAttachment"]
    assert shown["delete_on_termination"] is False
    early = await cloud.client.put(f"{path}/{vid}", json=put, headers=h79)
    assert early.status_code == 400
    swap = {"volumeAttachment": {"volumeId": str(uuid.uuid4())}}
    assert (await cloud.client.put(f"{path}/{vid}", json=swap, headers=h85)).status_code == 403
    admin_swap = await cloud.client.put(
        f"{path}/{vid}", json=swap, headers=cloud.headers(cloud.admin_token, "2.85")
    )
    assert admin_swap.status_code == 409

    # Still attaching (no conductor here): a detach is refused, not queued.
    detach = await cloud.client.delete(f"{path}/{vid}", headers=h79)
    assert detach.status_code == 400 and "not attached" in detach.text


async def test_attach_refusals(cloud: Cloud, volumes: VolumeService) -> None:
    vid = await _volume(cloud)
    h = cloud.headers(cloud.demo_token)
    body = {"volumeAttachment": {"volumeId": vid}}
    busy = await _server(cloud, task_state="rebooting")
    r = await cloud.client.post(f"{V}/servers/{busy}/os-volume_attachments", json=body, headers=h)
    assert r.status_code == 409 and "task_state rebooting" in r.text
    building = await _server(cloud, vm_state="building", host=None)
    r = await cloud.client.post(
        f"{V}/servers/{building}/os-volume_attachments", json=body, headers=h
    )
    assert r.status_code == 409 and "vm_state building" in r.text
    bm_flavor = {"id": "bm", "name": "bm", "vcpus": 0, "ram": 0, "disk": 0,
                 "extra_specs": {"resources:CUSTOM_BM_GOLD": "1"}}  # fmt: skip
    metal = await _server(cloud, flavor=bm_flavor, node="node-1")
    r = await cloud.client.post(f"{V}/servers/{metal}/os-volume_attachments", json=body, headers=h)
    assert r.status_code == 409 and "no storage network" in r.text
    ok = await _server(cloud)
    unknown = {"volumeAttachment": {"volumeId": str(uuid.uuid4())}}
    r = await cloud.client.post(f"{V}/servers/{ok}/os-volume_attachments", json=unknown, headers=h)
    assert r.status_code == 404 and "could not be found" in r.text
    bad = {"volumeAttachment": {"volumeId": "nope"}}
    r = await cloud.client.post(f"{V}/servers/{ok}/os-volume_attachments", json=bad, headers=h)
    assert r.status_code == 400 and "volumeId" in r.text
    # The volume stayed available through every refusal.
    shown = await cloud.client.get(f"{V3}/volumes/{vid}", headers=vh(cloud.demo_token))
    assert shown.json()["volume"]["status"] == "available"
