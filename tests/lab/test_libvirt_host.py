"""This machine as a libvirt hypervisor: enrolment next to the lab, the stockyard-tiny
image registration and the settings that drive both."""

from __future__ import annotations

import hashlib
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from stockyard.bus.memory import MemoryBus
from stockyard.db.base import Database
from stockyard.db.models import Host, Image
from stockyard.image.store import ImageStore
from stockyard.image.tiny import TINY_IMAGE_NAME, register_tiny_image
from stockyard.lab.enroll import enroll
from stockyard.lab.libvirt_host import build_libvirt_agent, local_hypervisors, network_mode
from stockyard.lab.model import load_lab
from stockyard.settings import Settings


def _mem_total_mib() -> int:
    with open("/proc/meminfo") as fh:
        return int(fh.readline().split()[1]) // 1024


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path}/x.db")
    await database.create_all()
    yield database
    await database.dispose()


def test_defaults_and_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("LIBVIRT_URI", "LIBVIRT_HOST", "LIBVIRT_NETWORK", "TINY_IMAGE"):
        monkeypatch.delenv(f"STOCKYARD_{name}", raising=False)
    s = Settings(data_dir=tmp_path)
    assert s.libvirt_uri is None and s.libvirt_host == socket.gethostname()
    assert s.libvirt_az == "az1" and s.libvirt_virt_type == "auto"
    assert network_mode(s) == "user" and s.tiny_image_path is None
    assert local_hypervisors(load_lab(None), s) == []
    assert build_libvirt_agent(s, MemoryBus()) is None
    monkeypatch.setenv("STOCKYARD_LIBVIRT_URI", "qemu:///system")
    monkeypatch.setenv("STOCKYARD_TINY_IMAGE", "/images/tiny.img")
    monkeypatch.setenv("STOCKYARD_LIBVIRT_NETWORK", "default")
    s = Settings(data_dir=tmp_path)
    assert s.libvirt_uri == "qemu:///system" and s.tiny_image_path == Path("/images/tiny.img")
    assert network_mode(s) == "network:default"
    assert network_mode(Settings(libvirt_network="bridge:br0")) == "bridge:br0"


async def test_the_libvirt_host_is_enrolled_with_this_machines_inventory(
    db: Database, tmp_path: Path
) -> None:
    lab = load_lab(None)
    settings = Settings(
        data_dir=tmp_path, libvirt_uri="qemu:///system", libvirt_host="kvm-1", libvirt_az="az2"
    )
    extra = local_hypervisors(lab, settings)
    for _ in range(2):  # idempotent
        async with db.session() as s:
            await enroll(s, lab, settings, extra=extra)
    async with db.session() as s:
        hosts = (await s.execute(select(Host))).scalars().all()
    assert len(hosts) == 13
    (qemu,) = [h for h in hosts if h.name == "kvm-1"]
    assert qemu.hypervisor_type == "QEMU" and qemu.kind == "vm"
    assert (qemu.region, qemu.az, qemu.rack) == (lab.regions[0].name, "az2", "local")
    assert qemu.vcpus == os.cpu_count()
    assert qemu.memory_mb == _mem_total_mib()
    assert qemu.local_gb > 0


async def test_stockyard_tiny_is_registered_public_and_kept_in_step(
    db: Database, tmp_path: Path
) -> None:
    from stockyard.identity.bootstrap import bootstrap

    async with db.session() as s:
        seeded = await bootstrap(s, "a", "d")
    store = ImageStore(tmp_path / "images")
    image_file = tmp_path / "tiny.img"
    async with db.session() as s:
        assert await register_tiny_image(s, store, seeded.admin_project_id, image_file) is None
        assert await register_tiny_image(s, store, seeded.admin_project_id, None) is None
    for content in (b"first build" * 1000, b"first build" * 1000, b"rebuilt image"):
        image_file.write_bytes(content)
        async with db.session() as s:
            await register_tiny_image(s, store, seeded.admin_project_id, image_file)
        async with db.session() as s:
            (row,) = (await s.execute(select(Image))).scalars().all()
        assert row.name == TINY_IMAGE_NAME and row.visibility == "public"
        assert row.status == "active" and row.disk_format == "raw"
        assert row.size == len(content)
        assert row.checksum == hashlib.md5(content, usedforsecurity=False).hexdigest()
        assert store.path_for(row.location or "").read_bytes() == content
