"""Many agents behind one pool and one report task."""

from __future__ import annotations

import pytest

from stockyard.compute.agent import ComputeAgent
from stockyard.compute.drivers.base import InstanceSpec
from stockyard.compute.drivers.fake import FakeDriver
from stockyard.compute.pool import AgentPool
from tests.compute.busutil import RecordingBus


def make_pool(bus: RecordingBus, n: int, interval: float) -> AgentPool:
    pool = AgentPool(bus, interval, seed=1)
    for i in range(n):
        host = f"hv{i}"
        pool.add(ComputeAgent(host, FakeDriver(host), bus, interval))
    return pool


async def test_pool_reports_every_host_at_start_and_then_periodically() -> None:
    bus = RecordingBus()
    pool = make_pool(bus, 50, interval=0.05)
    await pool.start()
    try:
        first = {m["host"] for m in bus.on("conductor", "host_report")}
        assert first == {f"hv{i}" for i in range(50)}
        # Every host reports again from the shared loop.
        await bus.wait_for(lambda _: len(bus.on("conductor", "host_report")) >= 100)
    finally:
        await pool.stop()
        await bus.close()


async def test_pool_routes_ops_to_the_right_agent() -> None:
    bus = RecordingBus()
    pool = make_pool(bus, 5, interval=3600)
    await pool.start()
    try:
        instance = InstanceSpec(uuid="i-1", hostname="vm").to_dict()
        msg = {"type": "op", "op": "spawn", "op_id": "o1", "instance": instance, "request_id": ""}
        await bus.publish("compute.hv3", msg)
        await bus.wait_for(lambda _: bool(bus.on("conductor", "op_result")))
        await pool.drain()
        [result] = bus.on("conductor", "op_result")
        assert result["host"] == "hv3" and result["ok"]
        driver = pool.agent("hv3").driver
        assert isinstance(driver, FakeDriver) and "i-1" in driver.guests
    finally:
        await pool.stop()
        await bus.close()


async def test_join_after_start_reports_at_once_and_duplicates_are_refused() -> None:
    bus = RecordingBus()
    pool = make_pool(bus, 1, interval=3600)
    await pool.start()
    try:
        await pool.join(ComputeAgent("late", FakeDriver("late"), bus))
        assert "late" in {m["host"] for m in bus.on("conductor", "host_report")}
        with pytest.raises(ValueError, match="late"):
            pool.add(ComputeAgent("late", FakeDriver("late"), bus))
    finally:
        await pool.stop()
        await bus.close()
