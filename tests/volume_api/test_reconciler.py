"""Nothing stays in an -ing status: lost hints, dead workers, deadlines, driver failures."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from sqlalchemy import update

from stockyard.db.base import utcnow
from stockyard.db.models import Volume
from stockyard.volume.drivers.file import FileDriver
from stockyard.volume.service import VolumeService
from tests.conftest import Cloud
from tests.volume_api.helpers import V3, create_volume, vh, wait_status


async def test_lost_hint_is_picked_up_by_the_reconciler(cloud: Cloud) -> None:
    # No volume role is listening: the API's hint is lost.
    vol = await create_volume(cloud, cloud.demo_token)
    cloud.state.settings.reconcile_interval_seconds = 0.0  # grace: the 1 s floor
    service = VolumeService(cloud.state.db, cloud.state.bus, cloud.state.settings)
    assert await service.reconcile_once() == 0  # within the grace: the hint may still come
    await asyncio.sleep(1.1)
    assert await service.reconcile_once() == 1
    shown = await wait_status(
        cloud, cloud.demo_token, f"{V3}/volumes/{vol['id']}", "volume", "available"
    )
    assert shown["size"] == 1


async def test_dead_workers_lease_is_taken_over(cloud: Cloud) -> None:
    vol = await create_volume(cloud, cloud.demo_token)
    async with cloud.state.db.session() as s:
        await s.execute(
            update(Volume)
            .where(Volume.id == vol["id"])
            .values(lease_owner="volume:dead:1", lease_expires=utcnow() - timedelta(seconds=1))
        )
    service = VolumeService(cloud.state.db, cloud.state.bus, cloud.state.settings)
    assert await service.reconcile_once() == 1
    async with cloud.state.db.session() as s:
        row = await s.get(Volume, vol["id"])
        assert row is not None and row.status == "available" and row.lease_owner is None


async def test_live_lease_is_left_alone(cloud: Cloud) -> None:
    vol = await create_volume(cloud, cloud.demo_token)
    async with cloud.state.db.session() as s:
        await s.execute(
            update(Volume)
            .where(Volume.id == vol["id"])
            .values(lease_owner="volume:busy:1", lease_expires=utcnow() + timedelta(minutes=1))
        )
    service = VolumeService(cloud.state.db, cloud.state.bus, cloud.state.settings)
    assert await service.reconcile_once() == 0
    assert await service.work("volume", vol["id"]) is False


async def test_past_the_deadline_ends_in_error_with_a_reason(cloud: Cloud) -> None:
    vol = await create_volume(cloud, cloud.demo_token)
    async with cloud.state.db.session() as s:
        await s.execute(
            update(Volume)
            .where(Volume.id == vol["id"])
            .values(
                lease_owner="volume:dead:1",
                lease_expires=utcnow() - timedelta(seconds=1),
                task_started_at=utcnow() - timedelta(hours=1),
            )
        )
    service = VolumeService(cloud.state.db, cloud.state.bus, cloud.state.settings)
    assert await service.reconcile_once() == 1
    async with cloud.state.db.session() as s:
        row = await s.get(Volume, vol["id"])
        assert row is not None and row.status == "error"
        assert row.status_reason == ("The volume service did not create the volume within 600 s.")


async def test_extend_of_a_lost_file_ends_in_error_extending(
    cloud: Cloud, volumes: VolumeService
) -> None:
    vol = await create_volume(cloud, cloud.demo_token)
    path = f"{V3}/volumes/{vol['id']}"
    await wait_status(cloud, cloud.demo_token, path, "volume", "available")
    async with cloud.state.db.session() as s:
        row = await s.get(Volume, vol["id"])
        assert row is not None and row.provider_location
        location = row.provider_location
    await asyncio.to_thread(Path(location).unlink)
    resp = await cloud.client.post(
        f"{path}/action", json={"os-extend": {"new_size": 2}}, headers=vh(cloud.demo_token)
    )
    assert resp.status_code == 202
    shown = await wait_status(cloud, cloud.demo_token, path, "volume", "error_extending")
    assert shown["size"] == 1
    async with cloud.state.db.session() as s:
        row = await s.get(Volume, vol["id"])
        assert row is not None and "is missing" in (row.status_reason or "")
        assert row.new_size is None
    # error_extending may be deleted (Cinder's rule); the file is gone already: fine.
    assert (await cloud.client.delete(path, headers=vh(cloud.demo_token))).status_code == 202
    await wait_status(cloud, cloud.demo_token, path, "volume", "deleted")


async def test_unavailable_backend_fails_work_with_its_reason(cloud: Cloud) -> None:
    service = VolumeService(
        cloud.state.db,
        cloud.state.bus,
        cloud.state.settings,
        backends={"file": FileDriver("file", cloud.state.settings.data_dir, qemu_img="no-qemu")},
    )
    await service.start(background=False)  # starts despite the broken backend
    try:
        vol = await create_volume(cloud, cloud.demo_token)
        await wait_status(cloud, cloud.demo_token, f"{V3}/volumes/{vol['id']}", "volume", "error")
        async with cloud.state.db.session() as s:
            row = await s.get(Volume, vol["id"])
            assert row is not None
            assert row.status_reason == (
                "Volume backend file is unavailable: file backend file: no-qemu not found "
                "(apt-get install qemu-utils)"
            )
    finally:
        await service.stop()
