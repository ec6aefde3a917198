"""The agent hands volume ops to the driver: attaches of different volumes queued behind
a slow op on one guest are separate work, and a stuck detach is the driver's readable
error."""

from __future__ import annotations

import asyncio
from typing import Any

from stockyard.bus.base import Message
from stockyard.compute.agent import ComputeAgent
from stockyard.compute.drivers.fake import FakeDriver
from tests.compute.busutil import RecordingBus


def op(kind: str, op_id: str, volume_id: str | None = None, **inst: Any) -> Message:
    message: Message = {
        "type": "op",
        "op": kind,
        "op_id": op_id,
        "instance": {"uuid": "i-1", "name": "vm1", **inst},
    }
    if volume_id is not None:
        message["volume"] = {"volume_id": volume_id}
    return message


async def test_attaches_of_two_volumes_queued_behind_a_boot_both_run() -> None:
    drv = FakeDriver("hv1", boot_seconds=0.3)
    agent = ComputeAgent("hv1", drv, RecordingBus(), 3600, volume_detach_timeout=7)
    boot = asyncio.create_task(agent.handle(op("spawn", "s1")))
    await asyncio.sleep(0)  # the spawn holds the guest's lock while it boots
    first, second = await asyncio.gather(
        agent.handle(op("attach_volume", "a1", "vol-a")),
        agent.handle(op("attach_volume", "a2", "vol-b")),
    )
    assert (await boot)["ok"]
    assert first["ok"] and second["ok"]
    assert drv.guests["i-1"].volumes == {"vol-a": "/dev/vdb", "vol-b": "/dev/vdc"}

    stuck = await agent.handle(
        op("detach_volume", "d1", "vol-a", metadata={"fake:stuck_detach": "true"})
    )
    assert not stuck["ok"]
    assert "did not release volume vol-a (/dev/vdb) within 7 s" in stuck["error"]
    done = await agent.handle(op("detach_volume", "d2", "vol-a"))
    assert done["ok"]
    assert drv.guests["i-1"].volumes == {"vol-b": "/dev/vdc"}
