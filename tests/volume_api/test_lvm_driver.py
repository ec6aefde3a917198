"""The lvm backend on a real volume group (a loop device made per test, see
``tests/lvm_group.py``): capacity from ``vgs``, refusals that say why, and, where the
kernel has device-mapper, the whole life of volumes and snapshots with their content."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from stockyard.settings import Settings
from stockyard.volume.drivers import build_backends
from stockyard.volume.drivers.base import (
    BackendFull,
    Connector,
    SnapshotRef,
    VolumeDriverError,
    VolumeRef,
)
from stockyard.volume.drivers.lvm import LvmDriver
from tests.lvm_group import NO_DM, device_mapper, loop_volume_group

GiB = 1024**3
MARK = b"stockyard-lvm-marker"


@pytest.fixture
def group() -> Iterator[str]:
    with loop_volume_group(2) as name:
        yield name


@pytest.fixture
def driver(group: str) -> LvmDriver:
    return LvmDriver("fast", group)


def _lvs(group: str) -> list[str]:
    out = subprocess.run(
        ["lvs", "--noheadings", "-o", "lv_name", group], capture_output=True, text=True
    ).stdout
    return sorted(out.split())


def test_settings_build_an_lvm_backend_on_the_named_group() -> None:
    settings = Settings(volume_backends={"fast": "lvm"}, volume_lvm_group="vg-x")
    backend = build_backends(settings)["fast"]
    assert isinstance(backend, LvmDriver) and backend.group == "vg-x"


async def test_capacity_comes_from_the_volume_group(driver: LvmDriver) -> None:
    stats = await driver.stats()
    # 2 GiB of loop device less LVM's metadata area, all of it free.
    assert 1.9 < stats.total_gb <= 2.0
    assert stats.free_gb == stats.total_gb


async def test_a_volume_larger_than_the_group_is_refused_with_the_numbers(
    driver: LvmDriver, group: str
) -> None:
    stats = await driver.stats()
    with pytest.raises(BackendFull) as refused:
        await driver.create(VolumeRef("big", 5))
    assert str(refused.value) == (
        f"backend fast is full: {stats.free_gb:.2f} GiB free of {stats.total_gb:.1f} GiB "
        f"in volume group {group}, 5 GiB asked"
    )
    assert _lvs(group) == []


async def test_missing_group_and_missing_volume_are_readable(driver: LvmDriver) -> None:
    with pytest.raises(VolumeDriverError, match="volume group no-such-vg is not usable"):
        await LvmDriver("fast", "no-such-vg").check()
    with pytest.raises(VolumeDriverError, match="its logical volume volume-nope is missing"):
        await driver.extend(VolumeRef("nope", 1), 2)


async def test_check_names_a_missing_device_mapper(driver: LvmDriver) -> None:
    if device_mapper():
        await driver.check()
    else:
        with pytest.raises(VolumeDriverError, match="kernel has no device-mapper"):
            await driver.check()


async def _read(path: str, size: int = len(MARK)) -> bytes:
    def read() -> bytes:
        with open(path, "rb") as fh:
            return fh.read(size)

    return await asyncio.to_thread(read)


async def _write(path: str, data: bytes) -> None:
    def write() -> None:
        with open(path, "r+b") as fh:
            fh.write(data)
            fh.flush()

    await asyncio.to_thread(write)


async def test_volume_life_with_snapshot_clone_and_image(
    driver: LvmDriver, group: str, tmp_path: Path
) -> None:
    if not device_mapper():
        pytest.skip(NO_DM)
    await driver.check()
    vol = VolumeRef("v1", 1)
    location = await driver.create(vol)
    assert location == f"/dev/{group}/volume-v1"
    assert await driver.create(vol) == location  # a re-run keeps it
    await _write(location, MARK)
    vol = VolumeRef("v1", 1, location)

    snap = SnapshotRef("s1", vol)
    snap = SnapshotRef("s1", vol, await driver.create_snapshot(snap))
    await _write(location, b"X" * len(MARK))  # the snapshot keeps the old content
    from_snap = await driver.create_from_snapshot(VolumeRef("v2", 1), snap)
    assert await _read(from_snap) == MARK
    clone = await driver.clone(VolumeRef("v3", 1), vol)
    assert await _read(clone) == b"X" * len(MARK)
    assert "clone-snap-v3" not in _lvs(group)

    image = tmp_path / "image.raw"
    image.write_bytes(MARK + b"\0" * (1024 * 1024 - len(MARK)))
    made = await driver.create_from_image(VolumeRef("v4", 1), image, "raw")
    assert await _read(made) == MARK
    big = tmp_path / "big.raw"
    with big.open("wb") as fh:
        fh.truncate(2 * GiB)  # sparse: a 2 GiB raw image
    with pytest.raises(VolumeDriverError, match="doesn't fit in a volume of size 1GB"):
        await driver.create_from_image(VolumeRef("v5", 1), big, "raw")

    await driver.extend(vol, 2)
    assert (await driver.stats()).free_gb < 1.0
    info = await driver.initialize_connection(vol, Connector(host="local"))
    assert info.to_dict() == {
        "driver_volume_type": "local",
        "data": {"device_path": location, "format": "raw"},
    }
    await driver.delete_snapshot(snap)
    for ref in (vol, VolumeRef("v2", 1), VolumeRef("v3", 1), VolumeRef("v4", 1)):
        await driver.delete(ref)
        await driver.delete(ref)  # already gone: fine
    assert _lvs(group) == []
