"""Volume actions and the metadata routes."""

from __future__ import annotations

from tempest.lib.api_schema.response.volume import volumes as schema

from stockyard.volume.service import VolumeService
from tests.conftest import Cloud
from tests.volume_api.helpers import V3, conform, create_volume, vh, wait_status


async def _ready(cloud: Cloud) -> tuple[str, str]:
    vol = await create_volume(cloud, cloud.demo_token)
    path = f"{V3}/volumes/{vol['id']}"
    await wait_status(cloud, cloud.demo_token, path, "volume", "available")
    return vol["id"], path


async def test_extend(cloud: Cloud, volumes: VolumeService) -> None:
    _, path = await _ready(cloud)
    h = vh(cloud.demo_token)
    action = f"{path}/action"
    conform(
        schema.extend_volume,
        await cloud.client.post(action, json={"os-extend": {"new_size": 3}}, headers=h),
    )
    shown = await wait_status(cloud, cloud.demo_token, path, "volume", "available")
    assert shown["size"] == 3
    smaller = await cloud.client.post(action, json={"os-extend": {"new_size": 2}}, headers=h)
    assert smaller.status_code == 400
    assert "New size for extend must be greater than current size" in smaller.text
    unknown = await cloud.client.post(action, json={"os-frobnicate": {}}, headers=h)
    assert unknown.json()["badRequest"]["message"] == "There is no such action: os-frobnicate"


async def test_bootable_readonly_and_reset_status(cloud: Cloud, volumes: VolumeService) -> None:
    vid, path = await _ready(cloud)
    h, admin = vh(cloud.demo_token), vh(cloud.admin_token)
    action = f"{path}/action"
    fresh = (await cloud.client.get(path, headers=h)).json()["volume"]
    assert "readonly" not in fresh["metadata"]  # never set: no admin metadata key
    conform(
        schema.set_bootable_volume,
        await cloud.client.post(action, json={"os-set_bootable": {"bootable": "true"}}, headers=h),
    )
    bad = await cloud.client.post(
        action, json={"os-set_bootable": {"bootable": "maybe"}}, headers=h
    )
    assert bad.status_code == 400
    conform(
        schema.update_volume_readonly,
        await cloud.client.post(
            action, json={"os-update_readonly_flag": {"readonly": True}}, headers=h
        ),
    )
    shown = (await cloud.client.get(path, headers=h)).json()["volume"]
    assert shown["bootable"] == "true" and shown["metadata"]["readonly"] == "True"
    # Once set, the flag stays in the metadata, false too (Cinder's admin metadata).
    await cloud.client.post(
        action, json={"os-update_readonly_flag": {"readonly": False}}, headers=h
    )
    shown = (await cloud.client.get(path, headers=h)).json()["volume"]
    assert shown["metadata"]["readonly"] == "False"
    listed = await cloud.client.get(f"{V3}/volumes/detail?bootable=true", headers=h)
    assert [v["id"] for v in listed.json()["volumes"]] == [vid]
    member = await cloud.client.post(
        action, json={"os-reset_status": {"status": "error"}}, headers=h
    )
    assert member.status_code == 403
    invalid = await cloud.client.post(
        action, json={"os-reset_status": {"status": "bogus"}}, headers=admin
    )
    assert invalid.status_code == 400
    conform(
        schema.reset_volume_status,
        await cloud.client.post(
            action, json={"os-reset_status": {"status": "error"}}, headers=admin
        ),
    )
    assert (await cloud.client.get(path, headers=h)).json()["volume"]["status"] == "error"
    # Not available: no extend.
    refused = await cloud.client.post(action, json={"os-extend": {"new_size": 5}}, headers=h)
    assert refused.status_code == 400 and "must be available to extend" in refused.text


async def test_metadata_routes(cloud: Cloud, volumes: VolumeService) -> None:
    _, path = await _ready(cloud)
    h = vh(cloud.demo_token)
    meta = f"{path}/metadata"
    created = conform(
        schema.create_volume_metadata,
        await cloud.client.post(meta, json={"metadata": {"a": "1", "b": "2"}}, headers=h),
    )
    assert created["metadata"] == {"a": "1", "b": "2"}
    merged = await cloud.client.post(meta, json={"metadata": {"c": "3"}}, headers=h)
    assert merged.json()["metadata"] == {"a": "1", "b": "2", "c": "3"}
    replaced = conform(
        schema.update_volume_metadata,
        await cloud.client.put(meta, json={"metadata": {"z": "9"}}, headers=h),
    )
    assert replaced["metadata"] == {"z": "9"}
    item = conform(schema.show_volume_metadata_item, await cloud.client.get(f"{meta}/z", headers=h))
    assert item == {"meta": {"z": "9"}}
    conform(
        schema.update_volume_metadata_item,
        await cloud.client.put(f"{meta}/z", json={"meta": {"z": "8"}}, headers=h),
    )
    mismatch = await cloud.client.put(f"{meta}/z", json={"meta": {"y": "8"}}, headers=h)
    assert mismatch.json()["badRequest"]["message"] == "Request body and URI mismatch"
    conform(schema.delete_volume_metadata_item, await cloud.client.delete(f"{meta}/z", headers=h))
    missing = await cloud.client.get(f"{meta}/z", headers=h)
    assert missing.status_code == 404
    conform(schema.show_volume_metadata, await cloud.client.get(meta, headers=h))
    other = await cloud.client.get(meta, headers=vh(cloud.admin_token))
    assert other.status_code == 200  # admin reaches any project's volume


async def test_force_delete_takes_a_stuck_volume(cloud: Cloud, volumes: VolumeService) -> None:
    _, path = await _ready(cloud)
    h, admin = vh(cloud.demo_token), vh(cloud.admin_token)
    await cloud.client.post(
        f"{path}/action", json={"os-reset_status": {"status": "error_deleting"}}, headers=admin
    )
    assert (await cloud.client.delete(path, headers=h)).status_code == 400
    member = await cloud.client.post(f"{path}/action", json={"os-force_delete": {}}, headers=h)
    assert member.status_code == 403
    conform(
        schema.force_delete_volume,
        await cloud.client.post(f"{path}/action", json={"os-force_delete": {}}, headers=admin),
    )
    await wait_status(cloud, cloud.demo_token, path, "volume", "deleted")


async def test_snapshot_admin_actions(cloud: Cloud, volumes: VolumeService) -> None:
    from tempest.lib.api_schema.response.volume import snapshots

    vid, _ = await _ready(cloud)
    h, admin = vh(cloud.demo_token), vh(cloud.admin_token)
    resp = await cloud.client.post(
        f"{V3}/snapshots", json={"snapshot": {"volume_id": vid}}, headers=h
    )
    spath = f"{V3}/snapshots/{resp.json()['snapshot']['id']}"
    await wait_status(cloud, cloud.demo_token, spath, "snapshot", "available")
    member = await cloud.client.post(
        f"{spath}/action", json={"os-reset_status": {"status": "error"}}, headers=h
    )
    assert member.status_code == 403
    conform(
        snapshots.reset_snapshot_status,
        await cloud.client.post(
            f"{spath}/action", json={"os-reset_status": {"status": "error"}}, headers=admin
        ),
    )
    assert (await cloud.client.get(spath, headers=h)).json()["snapshot"]["status"] == "error"
    bad = await cloud.client.post(
        f"{spath}/action", json={"os-reset_status": {"status": "bogus"}}, headers=admin
    )
    assert bad.status_code == 400
    conform(
        snapshots.force_delete_snapshot,
        await cloud.client.post(f"{spath}/action", json={"os-force_delete": {}}, headers=admin),
    )
    await wait_status(cloud, cloud.demo_token, spath, "snapshot", "deleted")


async def test_extend_waits_for_a_snapshot_being_made(cloud: Cloud) -> None:
    # No volume role: the snapshot stays in creating while the extend is asked.
    from sqlalchemy import update

    from stockyard.db.models import Volume

    vol = await create_volume(cloud, cloud.demo_token)
    async with cloud.state.db.session() as s:
        await s.execute(update(Volume).where(Volume.id == vol["id"]).values(status="available"))
    h = vh(cloud.demo_token)
    resp = await cloud.client.post(
        f"{V3}/snapshots", json={"snapshot": {"volume_id": vol["id"]}}, headers=h
    )
    assert resp.status_code == 202
    action = f"{V3}/volumes/{vol['id']}/action"
    refused = await cloud.client.post(action, json={"os-extend": {"new_size": 2}}, headers=h)
    assert refused.status_code == 400 and "is being copied" in refused.text
