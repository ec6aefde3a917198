"""The file backend with the real qemu-img: create, extend, snapshot, copies, idempotence."""

from __future__ import annotations

from pathlib import Path

import pytest

from stockyard.settings import Settings
from stockyard.volume.drivers import build_backends
from stockyard.volume.drivers.base import Connector, SnapshotRef, VolumeDriverError, VolumeRef
from stockyard.volume.drivers.file import FileDriver

pytestmark = pytest.mark.skipif(
    not Path("/usr/bin/qemu-img").exists(), reason="qemu-img (qemu-utils) not installed"
)


def _gone(path: str) -> bool:
    return not Path(path).exists()


@pytest.fixture
def driver(tmp_path: Path) -> FileDriver:
    return FileDriver("file", tmp_path / "vols")


async def test_create_is_idempotent_and_sized(driver: FileDriver) -> None:
    await driver.check()
    vol = VolumeRef("v1", 1)
    location = await driver.create(vol)
    assert Path(location) == driver.volume_path("v1")
    assert await driver.virtual_size_gb(Path(location)) == 1.0
    # A re-run (after a crash) finds the volume and keeps it.
    assert await driver.create(vol) == location
    assert not list(driver.directory.glob("*.part"))


async def test_extend_then_delete(driver: FileDriver) -> None:
    location = await driver.create(VolumeRef("v2", 1))
    vol = VolumeRef("v2", 1, location)
    await driver.extend(vol, 3)
    await driver.extend(vol, 3)  # idempotent
    assert await driver.virtual_size_gb(Path(location)) == 3.0
    await driver.delete(vol)
    await driver.delete(vol)  # already gone: fine
    assert _gone(location)


async def test_extend_missing_file_is_a_readable_error(driver: FileDriver) -> None:
    with pytest.raises(VolumeDriverError, match="is missing"):
        await driver.extend(VolumeRef("nope", 1), 2)


async def test_snapshot_keeps_content_and_volumes_copy_it(driver: FileDriver) -> None:
    location = await driver.create(VolumeRef("v3", 1))
    vol = VolumeRef("v3", 1, location)
    # Write a marker into the raw content through qemu-io-free means: a raw round trip.
    raw = driver.directory / "marker.raw"
    raw.write_bytes(b"stockyard-marker" + b"\0" * (1024 * 1024 - 16))
    await driver._run("convert", "-q", "-f", "raw", "-O", "qcow2", str(raw), str(location))
    snap = SnapshotRef("s1", vol)
    snap_location = await driver.create_snapshot(snap)
    await driver.delete(vol)  # the snapshot is a full copy: it survives its volume
    from_snap = await driver.create_from_snapshot(
        VolumeRef("v4", 2), SnapshotRef("s1", vol, snap_location)
    )
    assert await driver.virtual_size_gb(Path(from_snap)) == 2.0
    clone = await driver.clone(VolumeRef("v5", 2), VolumeRef("v4", 2, from_snap))
    out = driver.directory / "out.raw"
    await driver._run("convert", "-q", "-f", "qcow2", "-O", "raw", clone, str(out))
    assert out.read_bytes()[:16] == b"stockyard-marker"
    await driver.delete_snapshot(SnapshotRef("s1", vol, snap_location))
    assert _gone(snap_location)


async def test_copy_from_missing_source_fails_readably(driver: FileDriver) -> None:
    with pytest.raises(VolumeDriverError, match=r"source .* is missing"):
        await driver.clone(VolumeRef("v6", 1), VolumeRef("gone", 1))


async def test_connection_info_names_the_file(driver: FileDriver) -> None:
    location = await driver.create(VolumeRef("v7", 1))
    info = await driver.initialize_connection(VolumeRef("v7", 1, location), Connector("h1"))
    assert info.to_dict() == {
        "driver_volume_type": "file",
        "data": {"path": location, "format": "qcow2"},
    }


async def test_qemu_img_failure_carries_its_message(tmp_path: Path) -> None:
    driver = FileDriver("file", tmp_path, fmt="qcow2")
    with pytest.raises(VolumeDriverError, match="qemu-img info failed"):
        await driver.virtual_size_gb(tmp_path / "absent.qcow2")


def test_backends_from_settings(tmp_path: Path) -> None:
    backends = build_backends(Settings(data_dir=tmp_path, volume_backends={"gold": "file"}))
    assert isinstance(backends["gold"], FileDriver)
    assert backends["gold"].directory == (tmp_path / "volumes").resolve()
    with pytest.raises(VolumeDriverError, match="unknown driver 'ceph'"):
        build_backends(Settings(data_dir=tmp_path, volume_backends={"x": "ceph"}))


async def test_create_from_image_copies_it_and_refuses_a_larger_one(
    driver: FileDriver, tmp_path: Path
) -> None:
    await driver.check()
    image = tmp_path / "image.raw"
    image.write_bytes(b"stockyard-marker" + b"\0" * (1024 * 1024 - 16))
    location = await driver.create_from_image(VolumeRef("i1", 1), image, "raw")
    assert await driver.virtual_size_gb(Path(location)) == 1.0  # grown to the volume
    out = tmp_path / "out.raw"
    await driver._run("convert", "-q", "-f", "qcow2", "-O", "raw", location, str(out))
    assert out.read_bytes()[:16] == b"stockyard-marker"
    big = tmp_path / "big.raw"
    with big.open("wb") as fh:
        fh.truncate(3 * 1024**3)  # sparse: a 3 GiB raw image
    with pytest.raises(
        VolumeDriverError,
        match="Image virtual size is 3GB and doesn't fit in a volume of size 2GB",
    ):
        await driver.create_from_image(VolumeRef("i2", 2), big, "raw")
    assert not driver.volume_path("i2").exists()
