"""Snapshots, volumes made from snapshots and volumes, and delete with cascade."""

from __future__ import annotations

from tempest.lib.api_schema.response.volume import snapshots as schema

from stockyard.db.models import VolumeSnapshot
from stockyard.volume.service import VolumeService
from tests.conftest import Cloud
from tests.volume_api.helpers import V3, conform, create_volume, vh, wait_status


async def _available_volume(cloud: Cloud, size: int = 1) -> dict[str, object]:
    vol = await create_volume(cloud, cloud.demo_token, size=size)
    path = f"{V3}/volumes/{vol['id']}"
    return await wait_status(cloud, cloud.demo_token, path, "volume", "available")


async def test_snapshot_lifecycle(cloud: Cloud, volumes: VolumeService) -> None:
    vol = await _available_volume(cloud)
    h = vh(cloud.demo_token)
    resp = await cloud.client.post(
        f"{V3}/snapshots",
        json={"snapshot": {"volume_id": vol["id"], "name": "s1", "metadata": {"a": "1"}}},
        headers=h,
    )
    snap = conform(schema.create_snapshot, resp)["snapshot"]
    path = f"{V3}/snapshots/{snap['id']}"
    shown = await wait_status(cloud, cloud.demo_token, path, "snapshot", "available")
    assert shown["size"] == 1 and shown["os-extended-snapshot-attributes:progress"] == "100%"
    conform(schema.show_snapshot, await cloud.client.get(path, headers=h))
    conform(schema.list_snapshots_no_detail, await cloud.client.get(f"{V3}/snapshots", headers=h))
    listed = conform(
        schema.list_snapshots_with_detail,
        await cloud.client.get(f"{V3}/snapshots/detail?volume_id={vol['id']}", headers=h),
    )
    assert [s["id"] for s in listed["snapshots"]] == [snap["id"]]
    updated = conform(
        schema.update_snapshot,
        await cloud.client.put(path, json={"snapshot": {"name": "s2"}}, headers=h),
    )
    assert updated["snapshot"]["name"] == "s2"
    # The volume cannot go while it has snapshots...
    refused = await cloud.client.delete(f"{V3}/volumes/{vol['id']}", headers=h)
    assert refused.status_code == 400 and "have snapshots" in refused.text
    # ... but a volume can be made from the snapshot, bigger.
    copy = await create_volume(cloud, cloud.demo_token, snapshot_id=snap["id"], size=2)
    assert copy["snapshot_id"] == snap["id"]
    await wait_status(cloud, cloud.demo_token, f"{V3}/volumes/{copy['id']}", "volume", "available")
    small = await cloud.client.post(
        f"{V3}/volumes", json={"volume": {"snapshot_id": snap["id"], "size": 0}}, headers=h
    )
    assert small.status_code == 400
    conform(schema.delete_snapshot, await cloud.client.delete(path, headers=h))
    await wait_status(cloud, cloud.demo_token, path, "snapshot", "deleted")


async def test_clone_and_cascade_delete(cloud: Cloud, volumes: VolumeService) -> None:
    vol = await _available_volume(cloud, size=2)
    h = vh(cloud.demo_token)
    clone = await create_volume(cloud, cloud.demo_token, source_volid=vol["id"], size=None)
    shown = await wait_status(
        cloud, cloud.demo_token, f"{V3}/volumes/{clone['id']}", "volume", "available"
    )
    assert shown["size"] == 2 and shown["source_volid"] == vol["id"]
    for name in ("a", "b"):
        resp = await cloud.client.post(
            f"{V3}/snapshots", json={"snapshot": {"volume_id": vol["id"], "name": name}}, headers=h
        )
        sid = resp.json()["snapshot"]["id"]
        await wait_status(cloud, cloud.demo_token, f"{V3}/snapshots/{sid}", "snapshot", "available")
    resp = await cloud.client.delete(f"{V3}/volumes/{vol['id']}?cascade=true", headers=h)
    assert resp.status_code == 202
    await wait_status(cloud, cloud.demo_token, f"{V3}/volumes/{vol['id']}", "volume", "deleted")
    async with cloud.state.db.session() as s:
        assert await s.get(VolumeSnapshot, sid) is None


async def test_snapshot_of_other_project_and_in_use(cloud: Cloud, volumes: VolumeService) -> None:
    admins = await create_volume(cloud, cloud.admin_token)
    resp = await cloud.client.post(
        f"{V3}/snapshots",
        json={"snapshot": {"volume_id": admins["id"]}},
        headers=vh(cloud.demo_token),
    )
    assert resp.status_code == 404
    vol = await _available_volume(cloud)
    reset = await cloud.client.post(
        f"{V3}/volumes/{vol['id']}/action",
        json={"os-reset_status": {"status": "in-use"}},
        headers=vh(cloud.admin_token),
    )
    assert reset.status_code == 202
    h = vh(cloud.demo_token)
    refused = await cloud.client.post(
        f"{V3}/snapshots", json={"snapshot": {"volume_id": vol["id"]}}, headers=h
    )
    assert refused.status_code == 400
    assert "status must be available" in refused.json()["badRequest"]["message"]
    forced = await cloud.client.post(
        f"{V3}/snapshots", json={"snapshot": {"volume_id": vol["id"], "force": True}}, headers=h
    )
    assert forced.status_code == 202
    gone = await cloud.client.delete(f"{V3}/volumes/{vol['id']}", headers=h)
    assert gone.status_code == 400  # in-use


async def test_snapshot_metadata_routes(cloud: Cloud, volumes: VolumeService) -> None:
    vol = await _available_volume(cloud)
    h = vh(cloud.demo_token)
    resp = await cloud.client.post(
        f"{V3}/snapshots", json={"snapshot": {"volume_id": vol["id"]}}, headers=h
    )
    meta = f"{V3}/snapshots/{resp.json()['snapshot']['id']}/metadata"
    created = conform(
        schema.create_snapshot_metadata,
        await cloud.client.post(meta, json={"metadata": {"a": "1"}}, headers=h),
    )
    assert created == {"metadata": {"a": "1"}}
    conform(
        schema.update_snapshot_metadata,
        await cloud.client.put(meta, json={"metadata": {"b": "2"}}, headers=h),
    )
    shown = conform(schema.show_snapshot_metadata, await cloud.client.get(meta, headers=h))
    assert shown == {"metadata": {"b": "2"}}
    conform(
        schema.update_snapshot_metadata_item,
        await cloud.client.put(f"{meta}/b", json={"meta": {"b": "3"}}, headers=h),
    )
    item = conform(
        schema.show_snapshot_metadata_item, await cloud.client.get(f"{meta}/b", headers=h)
    )
    assert item == {"meta": {"b": "3"}}
    conform(schema.delete_snapshot_metadata_item, await cloud.client.delete(f"{meta}/b", headers=h))
    admin = await cloud.client.get(meta, headers=vh(cloud.admin_token))
    assert admin.status_code == 200  # an admin reaches any project's snapshot
    missing = await cloud.client.get(f"{V3}/snapshots/nope/metadata", headers=h)
    assert missing.status_code == 404
