"""Image pre-caching (2.81) on one host: the agent's handling and each driver's answer."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from stockyard.bus.memory import MemoryBus
from stockyard.compute.agent import ComputeAgent
from stockyard.compute.drivers.base import ComputeDriver, DriverError
from stockyard.compute.drivers.fake import FakeDriver


def request(*image_ids: str) -> dict[str, object]:
    return {"type": "cache_images", "aggregate_id": 7, "image_ids": list(image_ids)}


class FlakyDriver(FakeDriver):
    async def cache_image(self, image_id: str) -> bool:
        if image_id == "bad":
            raise DriverError("Image bad has no data on this host.")
        return await super().cache_image(image_id)


async def test_agent_caches_and_reports_each_image(caplog: pytest.LogCaptureFixture) -> None:
    bus = MemoryBus()
    driver = FlakyDriver("hv1")
    agent = ComputeAgent("hv1", driver, bus)
    caplog.set_level(logging.INFO)
    assert await agent.handle(request("a", "bad", "b")) == {
        "a": "cached",
        "bad": "error",
        "b": "cached",
    }
    assert await agent.handle(request("a")) == {"a": "existing"}
    assert driver.cached_images == ["a", "b"]
    assert "host hv1: could not cache image bad: Image bad has no data" in caplog.text
    # Malformed (no image ids): dropped, nothing cached.
    assert await agent.handle({"type": "cache_images", "image_ids": []}) == {}
    await bus.close()


async def test_driver_without_cache_is_unsupported(caplog: pytest.LogCaptureFixture) -> None:
    class Bare(FakeDriver):
        name = "baremetal"
        cache_image = ComputeDriver.cache_image

    agent = ComputeAgent("node-1", Bare("node-1"), MemoryBus())
    assert await agent.handle(request("a", "b")) == {"a": "unsupported", "b": "unsupported"}
    assert "driver baremetal does not support image pre-caching" in caplog.text


async def test_baremetal_node_driver_has_no_image_cache() -> None:
    from stockyard.compute.drivers.baremetal_node import BaremetalNodeDriver

    assert BaremetalNodeDriver.cache_image is ComputeDriver.cache_image


async def test_libvirt_fetches_into_its_base_image_cache(tmp_path: Path) -> None:
    pytest.importorskip("libvirt")
    from stockyard.compute.drivers.libvirt.driver import LibvirtDriver
    from stockyard.compute.drivers.libvirt.storage import LocalImageResolver

    images = tmp_path / "images"
    images.mkdir()
    image_id = "0b0b0b0b-0000-4000-8000-000000000001"
    resolver = LocalImageResolver(images)
    resolver.store.path_for(image_id).write_bytes(b"\0" * 4096)
    driver = LibvirtDriver(
        "hv1", uri="test:///default", data_dir=tmp_path, virt_type="qemu", image_resolver=resolver
    )
    assert not list(driver.disks.base_dir.glob("*"))
    assert await driver.cache_image(image_id) is True
    bases = list(driver.disks.base_dir.iterdir())
    assert len(bases) == 1 and bases[0].read_bytes() == b"\0" * 4096
    assert await driver.cache_image(image_id) is False
    # Spawn then reuses that very base.
    source = await driver.resolve_image(image_id)
    assert await driver.disks.cached_base(source.path) == bases[0]
    with pytest.raises(DriverError, match="has no data on this host"):
        await driver.cache_image("0b0b0b0b-0000-4000-8000-000000000002")
