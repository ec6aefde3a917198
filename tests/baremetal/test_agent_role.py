"""The ``stockyard baremetal-agent`` role in-process: one agent per hwmgr node of its
region, readiness that follows hwmgr, and deploy images served from the image store by id
(no database)."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from stockyard.bus.memory import MemoryBus
from stockyard.cli.baremetal_role import BaremetalAgentRole
from stockyard.compute.drivers.base import DriverError
from tests.baremetal.conftest import IPMI_NODES, REDFISH_NODES, TOKEN, Rig


def _role(hwmgr_url: str, images: Path) -> BaremetalAgentRole:
    return BaremetalAgentRole(
        MemoryBus(),
        region="RegionOne",
        hwmgr_url=hwmgr_url,
        hwmgr_token=SecretStr(TOKEN),
        images_dir=images,
        image_host="127.0.0.1",
        image_port=0,
        image_url=None,
        report_interval=60,
        rescan_interval=3600,
    )


@pytest.fixture
async def role(rig: Rig, tmp_path: Path) -> AsyncIterator[BaremetalAgentRole]:
    images = tmp_path / "images"
    images.mkdir()
    running = _role(rig.service.url, images)
    await running.bus.start()
    await running.start()
    yield running
    await running.stop()
    await running.bus.close()


async def test_it_serves_every_node_of_its_region_and_is_ready(
    role: BaremetalAgentRole,
) -> None:
    assert sorted(role.pool.agents) == sorted(REDFISH_NODES + IPMI_NODES)
    assert await role.ready() == {"bus": True, "hwmgr": True}


async def test_deploy_images_come_from_the_store_by_id(
    role: BaremetalAgentRole, tmp_path: Path
) -> None:
    data = b"stockyard image " * 4096
    (tmp_path / "images" / "0b9c6a9e-image").write_bytes(data)
    url, checksum = await role.exporter.url_for("0b9c6a9e-image")
    assert checksum == "sha256:" + hashlib.sha256(data).hexdigest()
    async with httpx.AsyncClient() as http:
        got = await http.get(url)
        forged = await http.get(url.replace("sig=", "sig=0"))
    assert got.status_code == 200 and got.content == data
    assert forged.status_code == 403
    with pytest.raises(DriverError, match="no data to install"):
        await role.exporter.url_for("not-uploaded")


async def test_it_starts_before_hwmgr_answers_and_says_so(tmp_path: Path) -> None:
    role = _role("http://127.0.0.1:1", tmp_path)
    await role.bus.start()
    await role.start()
    try:
        assert role.pool.agents == {}
        assert await role.ready() == {"bus": True, "hwmgr": False}
    finally:
        await role.stop()
        await role.bus.close()
