"""A volume made from an image carries the image's metadata (Cinder's
``volume_image_metadata``: what Nova reads when it boots from the volume); clones carry
it along; the os-*_image_metadata actions change it; the 3.4 list filter finds it."""

from __future__ import annotations

from tempest.lib.api_schema.response.volume import volumes as schema

from stockyard.volume.service import VolumeService
from tests.conftest import Cloud
from tests.volume_api.helpers import V3, conform, create_volume, upload_image, vh, wait_status


async def _image(cloud: Cloud) -> str:
    return await upload_image(cloud, hw_disk_bus="scsi", os_distro="debian")


async def test_image_metadata_of_a_volume_and_its_clone(
    cloud: Cloud, volumes: VolumeService
) -> None:
    h = vh(cloud.demo_token)
    image_id = await _image(cloud)
    vol = await create_volume(cloud, cloud.demo_token, imageRef=image_id)
    path = f"{V3}/volumes/{vol['id']}"
    shown = await wait_status(cloud, cloud.demo_token, path, "volume", "available")
    meta = shown["volume_image_metadata"]
    assert meta["image_id"] == image_id and meta["image_name"] == "img"
    assert meta["hw_disk_bus"] == "scsi" and meta["os_distro"] == "debian"
    assert meta["disk_format"] == "raw" and meta["size"] == "65536" and meta["min_ram"] == "0"
    clone = await create_volume(cloud, cloud.demo_token, source_volid=vol["id"])
    cloned = (await cloud.client.get(f"{V3}/volumes/{clone['id']}", headers=h)).json()
    assert cloned["volume"]["volume_image_metadata"] == meta
    empty = await create_volume(cloud, cloud.demo_token)
    plain = (await cloud.client.get(f"{V3}/volumes/{empty['id']}", headers=h)).json()
    assert "volume_image_metadata" not in plain["volume"]
    # The 3.4 filter.
    found = await cloud.client.get(
        f"{V3}/volumes?glance_metadata={{'os_distro': 'debian'}}",
        headers=vh(cloud.demo_token, "3.4"),
    )
    assert sorted(v["id"] for v in found.json()["volumes"]) == sorted([vol["id"], clone["id"]])


async def test_image_metadata_actions(cloud: Cloud, volumes: VolumeService) -> None:
    h = vh(cloud.demo_token)
    vol = await create_volume(cloud, cloud.demo_token)
    action = f"{V3}/volumes/{vol['id']}/action"
    set_body = {"os-set_image_metadata": {"metadata": {"image_name": "x", "ramdisk_id": "r"}}}
    updated = conform(
        schema.update_volume_image_metadata,
        await cloud.client.post(action, json=set_body, headers=h),
    )
    assert updated == {"metadata": {"image_name": "x", "ramdisk_id": "r"}}
    unset = await cloud.client.post(
        action, json={"os-unset_image_metadata": {"key": "ramdisk_id"}}, headers=h
    )
    assert unset.status_code == 200
    shown = conform(
        schema.show_volume_image_metadata,
        await cloud.client.post(action, json={"os-show_image_metadata": {}}, headers=h),
    )
    assert shown == {"metadata": {"image_name": "x"}}
    missing = await cloud.client.post(
        action, json={"os-unset_image_metadata": {"key": "ramdisk_id"}}, headers=h
    )
    assert missing.status_code == 404 and "ramdisk_id" in missing.text
    for bad in (
        {"os-set_image_metadata": {}},
        {"os-set_image_metadata": {"metadata": {"k": 1}}},
        {"os-set_image_metadata": {"metadata": {"": "v"}}},
        {"os-unset_image_metadata": {}},
    ):
        r = await cloud.client.post(action, json=bad, headers=h)
        assert r.status_code == 400, bad
    still = await cloud.client.post(action, json={"os-show_image_metadata": {}}, headers=h)
    assert still.json() == {"metadata": {"image_name": "x"}}
    # Another project's volume is not found.
    other = await cloud.client.post(
        action, json={"os-show_image_metadata": {}}, headers=vh(cloud.admin_token)
    )
    assert other.status_code == 200  # an admin sees every project's volumes
