"""Input that once could reach the database or a set lookup as the wrong type answers
400, never 500: sizes out of the database's integer range, booleans, floats, lists."""

from __future__ import annotations

from stockyard.volume.service import VolumeService
from tests.conftest import Cloud
from tests.volume_api.helpers import V3, create_volume, vh, wait_status


async def test_sizes_and_limits_out_of_range_are_400(cloud: Cloud, volumes: VolumeService) -> None:
    h, admin = vh(cloud.demo_token), vh(cloud.admin_token)
    project = cloud.seeded.demo_project_id
    await cloud.client.put(
        f"{V3}/os-quota-sets/{project}",
        json={"quota_set": {"gigabytes": -1}},
        headers=admin,
    )
    for size in (2**40, True, 1.5, [1], "1x"):
        resp = await cloud.client.post(f"{V3}/volumes", json={"volume": {"size": size}}, headers=h)
        assert resp.status_code == 400, (size, resp.text)
    ok = await cloud.client.post(f"{V3}/volumes", json={"volume": {"size": "1"}}, headers=h)
    assert ok.status_code == 202  # Cinder before 3.53 takes a decimal string
    vol = ok.json()["volume"]
    path = f"{V3}/volumes/{vol['id']}"
    await wait_status(cloud, cloud.demo_token, path, "volume", "available")
    for new_size in (2**40, 1.5, True, None):
        resp = await cloud.client.post(
            f"{path}/action", json={"os-extend": {"new_size": new_size}}, headers=h
        )
        assert resp.status_code == 400, (new_size, resp.text)
    for value in (2**40, "many", [1]):
        resp = await cloud.client.put(
            f"{V3}/os-quota-sets/{project}", json={"quota_set": {"volumes": value}}, headers=admin
        )
        assert resp.status_code == 400, (value, resp.text)


async def test_statuses_of_the_wrong_type_are_400(cloud: Cloud, volumes: VolumeService) -> None:
    admin = vh(cloud.admin_token)
    vol = await create_volume(cloud, cloud.admin_token)
    path = f"{V3}/volumes/{vol['id']}/action"
    for body in (
        {"os-reset_status": {"status": ["error"]}},
        {"os-reset_status": {"attach_status": {"a": 1}}},
        {"os-reset_status": []},
    ):
        resp = await cloud.client.post(path, json=body, headers=admin)
        assert resp.status_code == 400, (body, resp.text)
