"""The baremetal agent follows hwmgr's node list: a node enrolled while the cloud runs
gets an agent that reports it at once; a deleted node's agent stops reporting it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from stockyard.bus.memory import MemoryBus
from stockyard.compute.drivers.fake import FakeDriver
from stockyard.compute.node_agents import NodeAgents
from stockyard.compute.pool import AgentPool


class _Hwmgr:
    """Stands in for the region's driver: its node list is what hwmgr would answer."""

    def __init__(self, *names: str) -> None:
        self.names = list(names)

    async def nodes(self, max_age: float | None = None) -> dict[str, Any]:
        return {n: {"name": n} for n in self.names}

    def for_node(self, name: str) -> FakeDriver:
        return FakeDriver(name)


async def _until(condition: Callable[[], bool]) -> None:
    """Wait for the bus to deliver (a bound against a hang, not a timing check)."""
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the report never arrived")


async def test_new_nodes_join_and_deleted_nodes_leave() -> None:
    bus = MemoryBus()
    reports: list[str] = []

    async def on_reports(message: dict[str, Any]) -> None:
        reports.extend(r["host"] for r in message["reports"])

    await bus.subscribe("conductor.reports", on_reports)
    hwmgr = _Hwmgr("bm-1")
    pool = AgentPool(bus, report_interval=3600)
    follow = NodeAgents(hwmgr, pool, bus, 3600, "R1")  # type: ignore[arg-type]
    try:
        assert await follow.sync() == (["bm-1"], [])
        await pool.start()
        hwmgr.names.append("bm-2")
        assert await follow.sync() == (["bm-2"], [])
        await _until(lambda: "bm-2" in reports)  # reported at once: up for the scheduler
        hwmgr.names.remove("bm-1")
        assert await follow.sync() == ([], ["bm-1"])
        assert sorted(pool.agents) == ["bm-2"]
        reports.clear()
        await pool.report_all()
        await _until(lambda: "bm-2" in reports)
        assert "bm-1" not in reports
        assert await follow.sync() == ([], [])
    finally:
        await pool.stop()
        await bus.close()
