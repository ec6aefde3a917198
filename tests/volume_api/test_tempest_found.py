"""What Tempest's volume run found (issue 13): empty 202 bodies, os-retype within a
backend, os-force_detach, os-update_snapshot_status, list offset and the display_name
sort key, 404 for an empty volume id, the os-services host filter."""

from __future__ import annotations

import uuid

from tempest.lib.api_schema.response.volume import volume_types as type_schema
from tempest.lib.api_schema.response.volume import volumes as schema

from stockyard.volume.service import VolumeService
from tests.conftest import Cloud
from tests.volume_api.helpers import V3, conform, create_volume, vh, wait_status


async def _ready(cloud: Cloud, **fields: object) -> tuple[str, str]:
    vol = await create_volume(cloud, cloud.demo_token, **fields)
    path = f"{V3}/volumes/{vol['id']}"
    await wait_status(cloud, cloud.demo_token, path, "volume", "available")
    return vol["id"], path


async def test_deletes_answer_no_body(cloud: Cloud, volumes: VolumeService) -> None:
    admin = vh(cloud.admin_token)
    vtype = (await cloud.client.post(f"{V3}/types", json={"volume_type": {"name": "t1"}},
                                     headers=admin)).json()["volume_type"]  # fmt: skip
    spec = f"{V3}/types/{vtype['id']}/extra_specs"
    await cloud.client.post(spec, json={"extra_specs": {"k": "v"}}, headers=admin)
    for resp in (
        await cloud.client.delete(f"{spec}/k", headers=admin),
        await cloud.client.delete(f"{V3}/types/{vtype['id']}", headers=admin),
    ):
        assert resp.status_code == 202 and resp.content == b""
    _, path = await _ready(cloud)
    deleted = await cloud.client.delete(path, headers=vh(cloud.demo_token))
    assert deleted.status_code == 202 and deleted.content == b""
    for method in ("GET", "PUT", "DELETE"):
        resp = await cloud.client.request(method, f"{V3}/volumes/", headers=vh(cloud.demo_token))
        assert resp.status_code == 404, (method, resp.text)


async def test_retype_within_the_backend(cloud: Cloud, volumes: VolumeService) -> None:
    admin, demo = vh(cloud.admin_token), vh(cloud.demo_token)
    made = await cloud.client.post(f"{V3}/types", json={"volume_type": {"name": "silver"}},
                                   headers=admin)  # fmt: skip
    silver = made.json()["volume_type"]
    updated = await cloud.client.put(
        f"{V3}/types/{silver['id']}", json={"volume_type": {"description": "d"}}, headers=admin
    )
    conform(type_schema.update_volume_types, updated)
    _, path = await _ready(cloud)
    action = f"{path}/action"
    retype = {"os-retype": {"new_type": silver["id"], "migration_policy": "never"}}
    conform(schema.retype_volume, await cloud.client.post(action, json=retype, headers=demo))
    shown = (await cloud.client.get(path, headers=demo)).json()["volume"]
    assert shown["volume_type"] == "silver" and shown["status"] == "available"
    again = await cloud.client.post(action, json=retype, headers=demo)
    assert again.status_code == 400
    unknown = {"os-retype": {"new_type": str(uuid.uuid4())}}
    assert (await cloud.client.post(action, json=unknown, headers=demo)).status_code == 404


async def test_force_detach(cloud: Cloud, volumes: VolumeService) -> None:
    admin, demo = vh(cloud.admin_token), vh(cloud.demo_token)
    _, path = await _ready(cloud)
    action = f"{path}/action"
    attach = {"os-attach": {"instance_uuid": str(uuid.uuid4()), "mountpoint": "/dev/vdb"}}
    assert (await cloud.client.post(action, json=attach, headers=demo)).status_code == 202
    shown = (await cloud.client.get(path, headers=demo)).json()["volume"]
    attachment_id = shown["attachments"][0]["attachment_id"]
    reset = {"os-reset_status": {"status": "error"}}
    assert (await cloud.client.post(action, json=reset, headers=admin)).status_code == 202
    force = {"os-force_detach": {"connector": None, "attachment_id": attachment_id}}
    assert (await cloud.client.post(action, json=force, headers=demo)).status_code == 403
    conform(schema.force_detach_volume, await cloud.client.post(action, json=force, headers=admin))
    shown = (await cloud.client.get(path, headers=demo)).json()["volume"]
    assert shown["status"] == "available" and shown["attachments"] == []


async def test_update_snapshot_status_and_list_paging(cloud: Cloud, volumes: VolumeService) -> None:
    admin, demo = vh(cloud.admin_token), vh(cloud.demo_token)
    vid, _ = await _ready(cloud)
    ids = []
    for name in ("b", "a", "c"):
        body = {"snapshot": {"volume_id": vid, "name": name}}
        made = await cloud.client.post(f"{V3}/snapshots", json=body, headers=demo)
        ids.append(made.json()["snapshot"]["id"])
        await wait_status(cloud, cloud.demo_token, f"{V3}/snapshots/{ids[-1]}", "snapshot",
                          "available")  # fmt: skip
    listed = await cloud.client.get(
        f"{V3}/snapshots?sort_key=display_name&sort_dir=asc&offset=1", headers=demo
    )
    assert [s["name"] for s in listed.json()["snapshots"]] == ["b", "c"]
    null = {"snapshot": {"volume_id": None}}
    assert (await cloud.client.post(f"{V3}/snapshots", json=null, headers=demo)).status_code == 404

    action = f"{V3}/snapshots/{ids[0]}/action"
    update = {"os-update_snapshot_status": {"status": "error", "progress": "80%"}}
    refused = await cloud.client.post(action, json=update, headers=demo)
    assert refused.status_code == 400  # available is not a status Nova reports from
    reset = {"os-reset_status": {"status": "creating"}}
    assert (await cloud.client.post(action, json=reset, headers=admin)).content == b""
    done = await cloud.client.post(action, json=update, headers=demo)
    assert done.status_code == 202 and done.content == b""
    shown = (await cloud.client.get(f"{V3}/snapshots/{ids[0]}", headers=admin)).json()
    assert shown["snapshot"]["status"] == "error"
    assert shown["snapshot"]["os-extended-snapshot-attributes:progress"] == "80%"


async def test_services_host_filter_matches_backends(cloud: Cloud, volumes: VolumeService) -> None:
    admin = vh(cloud.admin_token)
    services = (await cloud.client.get(f"{V3}/os-services", headers=admin)).json()["services"]
    volume_hosts = [s["host"] for s in services if s["binary"] == "cinder-volume"]
    assert volume_hosts and "@" in volume_hosts[0]
    host = volume_hosts[0].split("@")[0]
    shown = await cloud.client.get(f"{V3}/os-services?host={host}", headers=admin)
    assert "cinder-volume" in {s["binary"] for s in shown.json()["services"]}
