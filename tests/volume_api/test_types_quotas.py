"""Volume types (admin CRUD, extra specs, the default type) and quotas/limits."""

from __future__ import annotations

from tempest.lib.api_schema.response.volume import limits as limits_schema
from tempest.lib.api_schema.response.volume import quotas as quota_schema
from tempest.lib.api_schema.response.volume import volume_types as type_schema

from stockyard.volume.service import VolumeService
from tests.conftest import Cloud
from tests.volume_api.helpers import V3, conform, create_volume, vh, wait_status


async def test_types_crud_and_extra_specs(cloud: Cloud, volumes: VolumeService) -> None:
    admin, demo = vh(cloud.admin_token), vh(cloud.demo_token)
    default = conform(
        type_schema.show_volume_type, await cloud.client.get(f"{V3}/types/default", headers=demo)
    )
    assert default["volume_type"]["name"] == "__DEFAULT__"
    body = {"volume_type": {"name": "gold", "extra_specs": {"volume_backend_name": "file"}}}
    denied = await cloud.client.post(f"{V3}/types", json=body, headers=demo)
    assert denied.status_code == 403
    gold = conform(
        type_schema.create_volume_type,
        await cloud.client.post(f"{V3}/types", json=body, headers=admin),
    )["volume_type"]
    assert gold["extra_specs"] == {"volume_backend_name": "file"}
    dup = await cloud.client.post(f"{V3}/types", json=body, headers=admin)
    assert dup.status_code == 409
    assert dup.json()["conflictingRequest"]["message"] == "Volume Type gold already exists."
    listed = conform(
        type_schema.list_volume_types, await cloud.client.get(f"{V3}/types", headers=demo)
    )
    assert {t["name"] for t in listed["volume_types"]} == {"__DEFAULT__", "gold"}
    assert "extra_specs" not in listed["volume_types"][0]  # members do not see them
    spec_path = f"{V3}/types/{gold['id']}/extra_specs"
    added = await cloud.client.post(spec_path, json={"extra_specs": {"k": "v"}}, headers=admin)
    assert added.json() == {"extra_specs": {"k": "v"}}
    item = await cloud.client.put(f"{spec_path}/k", json={"k": "w"}, headers=admin)
    assert item.json() == {"k": "w"}
    mismatch = await cloud.client.put(f"{spec_path}/k", json={"x": "w"}, headers=admin)
    assert mismatch.status_code == 400
    assert (await cloud.client.delete(f"{spec_path}/k", headers=admin)).status_code == 202
    assert (await cloud.client.get(f"{spec_path}/k", headers=admin)).status_code == 404
    private = await cloud.client.post(
        f"{V3}/types",
        json={"volume_type": {"name": "hidden", "os-volume-type-access:is_public": False}},
        headers=admin,
    )
    hidden_id = private.json()["volume_type"]["id"]
    assert (await cloud.client.get(f"{V3}/types/{hidden_id}", headers=demo)).status_code == 404
    # A type in use cannot go; the default type never goes.
    vol = await create_volume(cloud, cloud.demo_token, volume_type="gold")
    assert vol["volume_type"] == "gold"
    in_use = await cloud.client.delete(f"{V3}/types/{gold['id']}", headers=admin)
    assert in_use.status_code == 400
    dflt = await cloud.client.delete(f"{V3}/types/{default['volume_type']['id']}", headers=admin)
    assert dflt.status_code == 400
    assert (await cloud.client.delete(f"{V3}/types/{hidden_id}", headers=admin)).status_code == 202


async def test_type_naming_an_unserved_backend_ends_in_error(
    cloud: Cloud, volumes: VolumeService
) -> None:
    await cloud.client.post(
        f"{V3}/types",
        json={"volume_type": {"name": "ceph", "extra_specs": {"volume_backend_name": "rbd1"}}},
        headers=vh(cloud.admin_token),
    )
    vol = await create_volume(cloud, cloud.demo_token, volume_type="ceph")
    path = f"{V3}/volumes/{vol['id']}"
    await wait_status(cloud, cloud.demo_token, path, "volume", "error")
    from stockyard.db.models import Volume

    async with cloud.state.db.session() as s:
        row = await s.get(Volume, vol["id"])
        assert row is not None and row.status_reason is not None
        assert "no volume backend named 'rbd1'" in row.status_reason
    # An error volume may be deleted, and goes without touching any backend.
    assert (await cloud.client.delete(path, headers=vh(cloud.demo_token))).status_code == 202
    await wait_status(cloud, cloud.demo_token, path, "volume", "deleted")


async def test_quotas_usage_and_413(cloud: Cloud, volumes: VolumeService) -> None:
    project = cloud.seeded.demo_project_id
    admin, demo = vh(cloud.admin_token), vh(cloud.demo_token)
    shown = conform(
        quota_schema.show_quota_set,
        await cloud.client.get(f"{V3}/os-quota-sets/{project}", headers=demo),
    )["quota_set"]
    assert shown["volumes"] == 10 and shown["gigabytes"] == 1000
    assert shown["volumes___DEFAULT__"] == -1
    other = await cloud.client.get(
        f"{V3}/os-quota-sets/{cloud.seeded.admin_project_id}", headers=demo
    )
    assert other.status_code == 403
    denied = await cloud.client.put(
        f"{V3}/os-quota-sets/{project}", json={"quota_set": {"volumes": 1}}, headers=demo
    )
    assert denied.status_code == 403
    conform(
        quota_schema.update_quota_set,
        await cloud.client.put(
            f"{V3}/os-quota-sets/{project}",
            json={"quota_set": {"volumes": 2, "gigabytes": 3}},
            headers=admin,
        ),
    )
    bad = await cloud.client.put(
        f"{V3}/os-quota-sets/{project}", json={"quota_set": {"bogus": 1}}, headers=admin
    )
    assert bad.json() == {"badRequest": {"code": 400, "message": "Bad key(s) in quota set: bogus"}}
    vol = await create_volume(cloud, cloud.demo_token, size=2)
    too_big = await cloud.client.post(f"{V3}/volumes", json={"volume": {"size": 2}}, headers=demo)
    assert too_big.status_code == 413
    assert too_big.json() == {
        "overLimit": {
            "code": 413,
            "message": "Requested volume or snapshot exceeds allowed gigabytes quota. "
            "Requested 2G, quota is 3G and 2G has been consumed.",
        }
    }
    await create_volume(cloud, cloud.demo_token, size=1)
    too_many = await cloud.client.post(f"{V3}/volumes", json={"volume": {"size": 1}}, headers=demo)
    assert too_many.json()["overLimit"]["message"] == (
        "Maximum number of volumes allowed (2) exceeded for quota 'volumes'."
    )
    usage = conform(
        quota_schema.show_quota_set_usage,
        await cloud.client.get(f"{V3}/os-quota-sets/{project}?usage=true", headers=demo),
    )["quota_set"]
    assert usage["volumes"] == {"limit": 2, "in_use": 2, "reserved": 0}
    assert usage["gigabytes___DEFAULT__"]["in_use"] == 3
    await wait_status(cloud, cloud.demo_token, f"{V3}/volumes/{vol['id']}", "volume", "available")
    extend = await cloud.client.post(
        f"{V3}/volumes/{vol['id']}/action", json={"os-extend": {"new_size": 3}}, headers=demo
    )
    assert extend.status_code == 413
    limits = conform(
        limits_schema.show_limits, await cloud.client.get(f"{V3}/limits", headers=demo)
    )
    absolute = limits["limits"]["absolute"]
    assert absolute["maxTotalVolumes"] == 2 and absolute["totalVolumesUsed"] == 2
    assert absolute["totalGigabytesUsed"] == 3
    reset = await cloud.client.delete(f"{V3}/os-quota-sets/{project}", headers=admin)
    assert reset.status_code == 200
    again = await cloud.client.get(f"{V3}/os-quota-sets/{project}", headers=demo)
    assert again.json()["quota_set"]["volumes"] == 10
