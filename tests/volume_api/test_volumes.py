"""Volumes through the API with a real volume role on the file backend, responses checked
against Tempest's volume schemas."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tempest.lib.api_schema.response.volume import volumes as schema

from stockyard.db.models import Volume
from stockyard.volume.service import VolumeService
from tests.conftest import Cloud
from tests.volume_api.helpers import V3, conform, create_volume, vh, wait_status


async def test_create_show_list_update_delete(cloud: Cloud, volumes: VolumeService) -> None:
    resp = await cloud.client.post(
        f"{V3}/volumes",
        json={"volume": {"size": 1, "name": "v1", "description": "d", "metadata": {"a": "b"}}},
        headers=vh(cloud.demo_token),
    )
    created = conform(schema.create_volume, resp)["volume"]
    assert created["status"] == "creating" and created["volume_type"] == "__DEFAULT__"
    assert resp.headers["OpenStack-API-Version"] == "volume 3.0"
    path = f"{V3}/volumes/{created['id']}"
    shown = await wait_status(cloud, cloud.demo_token, path, "volume", "available")
    conform(schema.show_volume, await cloud.client.get(path, headers=vh(cloud.demo_token)))
    assert shown["size"] == 1 and shown["metadata"] == {"a": "b"}
    assert shown["bootable"] == "false" and shown["availability_zone"] == "nova"
    assert "os-vol-host-attr:host" not in shown  # admin only
    admin_view = (await cloud.client.get(path, headers=vh(cloud.admin_token))).json()["volume"]
    assert admin_view["os-vol-host-attr:host"] == "stockyard@file#file"
    async with cloud.state.db.session() as s:
        row = await s.get(Volume, created["id"])
        assert row is not None and row.provider_location is not None
        assert await asyncio.to_thread(Path(row.provider_location).exists)
    listed = conform(
        schema.list_volumes_no_detail,
        await cloud.client.get(f"{V3}/volumes", headers=vh(cloud.demo_token)),
    )
    assert [v["id"] for v in listed["volumes"]] == [created["id"]]
    detail = conform(
        schema.list_volumes_with_detail,
        await cloud.client.get(f"{V3}/volumes/detail", headers=vh(cloud.demo_token)),
    )
    assert detail["volumes"][0]["name"] == "v1"
    updated = conform(
        schema.update_volume,
        await cloud.client.put(
            path,
            json={"volume": {"name": "v2", "metadata": {"x": "y"}}},
            headers=vh(cloud.demo_token),
        ),
    )["volume"]
    assert updated["name"] == "v2" and updated["metadata"] == {"x": "y"}
    conform(schema.delete_volume, await cloud.client.delete(path, headers=vh(cloud.demo_token)))
    await wait_status(cloud, cloud.demo_token, path, "volume", "deleted")
    assert not await asyncio.to_thread(Path(row.provider_location).exists)


async def test_routes_with_the_project_id(cloud: Cloud, volumes: VolumeService) -> None:
    project = cloud.seeded.demo_project_id
    vol = await create_volume(cloud, cloud.demo_token, name="p")
    resp = await cloud.client.get(
        f"{V3}/{project}/volumes/{vol['id']}", headers=vh(cloud.demo_token)
    )
    assert resp.status_code == 200 and resp.json()["volume"]["name"] == "p"
    wrong = await cloud.client.get(
        f"{V3}/{cloud.seeded.admin_project_id}/volumes", headers=vh(cloud.demo_token)
    )
    assert wrong.status_code == 400
    assert wrong.json() == {"badRequest": {"code": 400, "message": "Malformed request url"}}


async def test_other_projects_volume_is_404_admin_sees_all_tenants(
    cloud: Cloud, volumes: VolumeService
) -> None:
    mine = await create_volume(cloud, cloud.admin_token, name="admins")
    resp = await cloud.client.get(f"{V3}/volumes/{mine['id']}", headers=vh(cloud.demo_token))
    assert resp.status_code == 404
    assert resp.json() == {
        "itemNotFound": {"code": 404, "message": f"Volume {mine['id']} could not be found."}
    }
    theirs = await create_volume(cloud, cloud.demo_token, name="demos")
    own = (await cloud.client.get(f"{V3}/volumes", headers=vh(cloud.admin_token))).json()
    assert [v["id"] for v in own["volumes"]] == [mine["id"]]
    everyone = (
        await cloud.client.get(f"{V3}/volumes?all_tenants=1", headers=vh(cloud.admin_token))
    ).json()
    assert {v["id"] for v in everyone["volumes"]} == {mine["id"], theirs["id"]}
    # A member's all_tenants changes nothing.
    demo = (
        await cloud.client.get(f"{V3}/volumes?all_tenants=1", headers=vh(cloud.demo_token))
    ).json()
    assert [v["id"] for v in demo["volumes"]] == [theirs["id"]]


async def test_filters_sort_and_paging(cloud: Cloud, volumes: VolumeService) -> None:
    ids = []
    for i in range(3):
        vol = await create_volume(cloud, cloud.demo_token, name=f"n{i}", metadata={"i": str(i)})
        ids.append(vol["id"])
    for vid in ids:
        await wait_status(cloud, cloud.demo_token, f"{V3}/volumes/{vid}", "volume", "available")
    h = vh(cloud.demo_token)
    by_name = (await cloud.client.get(f"{V3}/volumes?name=n1", headers=h)).json()["volumes"]
    assert [v["id"] for v in by_name] == [ids[1]]
    by_meta = await cloud.client.get(
        f"{V3}/volumes/detail", params={"metadata": "{'i': '2'}"}, headers=h
    )
    assert [v["id"] for v in by_meta.json()["volumes"]] == [ids[2]]
    by_status = (await cloud.client.get(f"{V3}/volumes?status=creating", headers=h)).json()
    assert by_status["volumes"] == []
    first = (await cloud.client.get(f"{V3}/volumes?sort=name:asc&limit=2", headers=h)).json()
    assert [v["name"] for v in first["volumes"]] == ["n0", "n1"]
    assert first["volumes_links"][0]["rel"] == "next"
    rest = (
        await cloud.client.get(f"{V3}/volumes?sort=name:asc&limit=2&marker={ids[1]}", headers=h)
    ).json()
    assert [v["name"] for v in rest["volumes"]] == ["n2"] and "volumes_links" not in rest
    bad = await cloud.client.get(f"{V3}/volumes?sort=bogus:asc", headers=h)
    assert bad.status_code == 400
    missing = await cloud.client.get(f"{V3}/volumes?marker=nope", headers=h)
    assert missing.status_code == 404


async def test_create_validation(cloud: Cloud, volumes: VolumeService) -> None:
    h = vh(cloud.demo_token)
    for size in (0, -1, "x", 1.5):
        resp = await cloud.client.post(f"{V3}/volumes", json={"volume": {"size": size}}, headers=h)
        assert resp.status_code == 400, size
        assert "badRequest" in resp.json()
    resp = await cloud.client.post(f"{V3}/volumes", json={"size": 1}, headers=h)
    assert (
        resp.json()["badRequest"]["message"] == "Missing required element 'volume' in request body."
    )
    resp = await cloud.client.post(
        f"{V3}/volumes", json={"volume": {"size": 1, "volume_type": "gold"}}, headers=h
    )
    assert resp.status_code == 404
    assert (
        resp.json()["itemNotFound"]["message"] == "Volume type with name gold could not be found."
    )
    resp = await cloud.client.post(
        f"{V3}/volumes", json={"volume": {"size": 1, "availability_zone": "az9"}}, headers=h
    )
    assert resp.status_code == 400
    async with cloud.state.db.session() as s:
        from sqlalchemy import func, select

        assert await s.scalar(select(func.count()).select_from(Volume)) == 0


async def test_microversions(cloud: Cloud) -> None:
    h = vh(cloud.demo_token, "3.0")
    resp = await cloud.client.get(f"{V3}/volumes", headers=h)
    assert resp.status_code == 200 and resp.headers["OpenStack-API-Version"] == "volume 3.0"
    latest = await cloud.client.get(f"{V3}/volumes", headers=vh(cloud.demo_token, "latest"))
    assert latest.headers["OpenStack-API-Version"] == "volume 3.44"
    too_new = await cloud.client.get(f"{V3}/volumes", headers=vh(cloud.demo_token, "3.99"))
    assert too_new.status_code == 406 and "notAcceptable" in too_new.json()
    bad = await cloud.client.get(f"{V3}/volumes", headers=vh(cloud.demo_token, "three"))
    assert bad.status_code == 400


async def test_version_documents(cloud: Cloud) -> None:
    from tempest.lib.api_schema.response.volume import versions

    root = await cloud.client.get("/volume/")
    assert root.status_code == 300
    entry = root.json()["versions"][0]
    assert entry["id"] == "v3.0" and entry["min_version"] == "3.0" and entry["version"] == "3.44"
    v3 = await cloud.client.get("/volume/v3/")
    assert v3.status_code == 200
    jsonschema_body = versions.list_versions["response_body"]
    import jsonschema

    jsonschema.Draft4Validator(jsonschema_body).validate(root.json())


async def test_needs_a_token(cloud: Cloud) -> None:
    resp = await cloud.client.get(f"{V3}/volumes")
    assert resp.status_code == 401
