"""``openstack volume create --image``: the volume role copies the image onto the
backend; the volume is bootable and holds the image's bytes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from stockyard.db.models import Volume
from stockyard.volume.service import VolumeService
from tests.conftest import Cloud
from tests.volume_api.helpers import V3, create_volume, vh, wait_status

pytestmark = pytest.mark.skipif(
    not Path("/usr/bin/qemu-img").exists(), reason="qemu-img (qemu-utils) not installed"
)
MARKER = b"stockyard-image-marker"


async def _image(cloud: Cloud, status_only: bool = False) -> str:
    r = await cloud.client.post(
        "/image/v2/images",
        json={"name": "img", "disk_format": "raw", "container_format": "bare"},
        headers=cloud.demo,
    )
    assert r.status_code == 201, r.text
    image_id = str(r.json()["id"])
    if not status_only:
        up = await cloud.client.put(
            f"/image/v2/images/{image_id}/file",
            content=MARKER + b"\0" * (65536 - len(MARKER)),
            headers={"X-Auth-Token": cloud.demo_token, "Content-Type": "application/octet-stream"},
        )
        assert up.status_code == 204, up.text
    return image_id


async def test_volume_from_image(cloud: Cloud, volumes: VolumeService, tmp_path: Path) -> None:
    image_id = await _image(cloud)
    vol = await create_volume(cloud, cloud.demo_token, imageRef=image_id)
    assert vol["bootable"] == "true"
    shown = await wait_status(
        cloud, cloud.demo_token, f"{V3}/volumes/{vol['id']}", "volume", "available"
    )
    assert shown["bootable"] == "true" and shown["size"] == 1
    async with cloud.state.db.session() as s:
        row = await s.get(Volume, vol["id"])
        assert row is not None and row.provider_location
        location = row.provider_location
    out = tmp_path / "out.raw"
    proc = await asyncio.create_subprocess_exec(
        "qemu-img", "convert", "-q", "-O", "raw", location, str(out)
    )
    assert await proc.wait() == 0
    assert out.read_bytes()[: len(MARKER)] == MARKER


async def test_volume_from_image_refusals(cloud: Cloud, volumes: VolumeService) -> None:
    queued = await _image(cloud, status_only=True)
    h = vh(cloud.demo_token)
    r = await cloud.client.post(
        f"{V3}/volumes", json={"volume": {"size": 1, "imageRef": queued}}, headers=h
    )
    assert r.status_code == 400 and "not active" in r.text
    r = await cloud.client.post(
        f"{V3}/volumes",
        json={"volume": {"size": 1, "imageRef": "00000000-0000-0000-0000-000000000000"}},
        headers=h,
    )
    assert r.status_code == 404 and "could not be found" in r.text
