"""Many agents behind one pool and one report task."""

from __future__ import annotations

import pytest

from stockyard.bus.base import Message
from stockyard.compute.agent import ComputeAgent
from stockyard.compute.drivers.base import InstanceSpec
from stockyard.compute.drivers.fake import FakeDriver
from stockyard.compute.pool import MAX_REPORTS_PER_MESSAGE, AgentPool
from tests.compute.busutil import RecordingBus


def reports(bus: RecordingBus) -> list[Message]:
    """Every host report the pool sent, unpacked from its ``host_reports`` batches."""
    return [r for m in bus.on("conductor.reports", "host_reports") for r in m["reports"]]


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
        # At start: one batch with every host, in the per-host report shape.
        [batch] = bus.on("conductor.reports")
        assert batch["type"] == "host_reports" and isinstance(batch["taken_at"], float)
        assert {r["host"] for r in batch["reports"]} == {f"hv{i}" for i in range(50)}
        assert all(r["type"] == "host_report" and r["vcpus"] > 0 for r in batch["reports"])
        # Every host reports again from the shared loop, in batches, none one by one.
        await bus.wait_for(lambda _: len(reports(bus)) >= 150)
        batches = bus.on("conductor.reports", "host_reports")
        assert len(batches) < len(reports(bus)) / 2
        assert bus.on("conductor", "host_report") == []
    finally:
        await pool.stop()
        await bus.close()


async def test_a_large_pool_splits_its_reports_into_capped_batches() -> None:
    bus = RecordingBus()
    n = MAX_REPORTS_PER_MESSAGE * 2 + 7
    pool = make_pool(bus, n, interval=3600)
    await pool.start()
    try:
        sizes = [len(m["reports"]) for m in bus.on("conductor.reports", "host_reports")]
        assert sizes == [MAX_REPORTS_PER_MESSAGE, MAX_REPORTS_PER_MESSAGE, 7]
        assert len({r["host"] for r in reports(bus)}) == n
    finally:
        await pool.stop()
        await bus.close()


async def test_a_failing_driver_leaves_only_its_host_out_of_the_batch() -> None:
    bus = RecordingBus()
    pool = make_pool(bus, 3, interval=3600)

    async def broken() -> dict[str, int]:
        raise RuntimeError("driver is gone")

    pool.agent("hv1").driver.list_instances = broken  # type: ignore[method-assign]
    await pool.start()
    try:
        assert sorted(r["host"] for r in reports(bus)) == ["hv0", "hv2"]
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
        assert bus.on("conductor.reports")[-1]["reports"][0]["host"] == "late"
        with pytest.raises(ValueError, match="late"):
            pool.add(ComputeAgent("late", FakeDriver("late"), bus))
    finally:
        await pool.stop()
        await bus.close()
