"""The compute agent over a real in-process bus."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from stockyard.bus.base import Message
from stockyard.compute.agent import ComputeAgent
from stockyard.compute.drivers.base import InstanceSpec, PowerState
from stockyard.compute.drivers.fake import FakeDriver
from tests.compute.busutil import RecordingBus

RESULT_KEYS = {
    "type",
    "instance_uuid",
    "op",
    "op_id",
    "ok",
    "metadata",
    "addresses",
    "power_state",
    "error",
    "details",
    "host",
    "request_id",
}


def op(kind: str, uuid: str = "i-1", op_id: str | None = None, **extra: Any) -> Message:
    instance = InstanceSpec(uuid=uuid, hostname="vm-1", image_ref="img", metadata={})
    instance.metadata.update(extra.pop("metadata", {}))
    return {
        "type": "op",
        "op": kind,
        "op_id": op_id or f"{kind}-{uuid}",
        "reboot_type": extra.pop("reboot_type", "SOFT"),
        "instance": instance.to_dict(),
        "request_id": "req-1",
    }


@pytest.fixture
async def bus() -> AsyncIterator[RecordingBus]:
    b = RecordingBus()
    yield b
    await b.close()


@pytest.fixture
async def agent(bus: RecordingBus) -> AsyncIterator[ComputeAgent]:
    a = ComputeAgent("hv1", FakeDriver("hv1", vcpus=8, memory_mb=8192, local_gb=80), bus, 3600)
    yield a
    await a.stop()


async def test_op_over_the_bus_gives_exactly_one_result(
    bus: RecordingBus, agent: ComputeAgent
) -> None:
    await agent.start()
    await bus.publish("compute.hv1", op("spawn", op_id="op-1"))
    await bus.wait_for(lambda _: bool(bus.on("conductor", "op_result")))
    await agent.drain()
    results = bus.on("conductor", "op_result")
    assert len(results) == 1
    r = results[0]
    assert set(r) == RESULT_KEYS
    assert r == {
        "type": "op_result",
        "instance_uuid": "i-1",
        "op": "spawn",
        "op_id": "op-1",
        "ok": True,
        "power_state": int(PowerState.RUNNING),
        "error": None,
        "details": "",
        "host": "hv1",
        "request_id": "req-1",
        "metadata": None,
        "addresses": None,
    }


async def test_start_publishes_a_host_report(bus: RecordingBus, agent: ComputeAgent) -> None:
    await agent.handle(op("spawn"))
    before = time.time()
    await agent.start()
    reports = bus.on("conductor", "host_report")
    # When the driver was read: the conductor ignores it for rows changed since.
    assert before <= reports[0].pop("taken_at") <= time.time()
    assert reports == [
        {
            "type": "host_report",
            "host": "hv1",
            "hypervisor_type": "fake",
            "vcpus": 8,
            "memory_mb": 8192,
            "local_gb": 80,
            "power_states": {"i-1": int(PowerState.RUNNING)},
            "request_id": "",
        }
    ]


async def test_periodic_reports(bus: RecordingBus) -> None:
    a = ComputeAgent("hv2", FakeDriver("hv2"), bus, report_interval=0.01)
    await a.start()
    try:
        await bus.wait_for(lambda _: len(bus.on("conductor", "host_report")) >= 3)
    finally:
        await a.stop()


async def test_driver_error_becomes_a_failed_result(bus: RecordingBus, agent: ComputeAgent) -> None:
    r = await agent.handle(op("spawn", metadata={"fake:fail_spawn": "true"}))
    assert r["ok"] is False
    assert "Emulated hypervisor refused to start the guest" in r["error"]
    assert r["power_state"] == int(PowerState.NOSTATE)
    assert bus.on("conductor", "op_result") == [r]


async def test_op_on_unknown_instance_fails_with_not_found(agent: ComputeAgent) -> None:
    r = await agent.handle(op("power_off", uuid="i-404"))
    assert r["ok"] is False and "i-404" in r["error"] and r["details"] == "InstanceNotFound"


async def test_unexpected_exception_is_reported_not_raised(
    bus: RecordingBus, agent: ComputeAgent
) -> None:
    async def boom(instance: InstanceSpec) -> None:
        raise RuntimeError("kaput")

    agent.driver.spawn = boom  # type: ignore[method-assign]
    r = await agent.handle(op("spawn"))
    assert r["ok"] is False
    assert r["error"] == "Internal error on compute host hv1 during spawn."
    assert "kaput" in r["details"]


async def test_unknown_op_and_malformed_instance_are_dropped(
    bus: RecordingBus, agent: ComputeAgent, caplog: pytest.LogCaptureFixture
) -> None:
    # The bus contract: logged and dropped (acknowledged), never answered or raised.
    assert await agent.handle({**op("spawn"), "op": "migrate"}) == {}
    assert await agent.handle({**op("spawn", op_id="m"), "instance": {"name": "no uuid"}}) == {}
    assert await agent.handle({"type": "op_result"}) == {}
    assert await agent.handle({"no": "type"}) == {}
    assert not bus.on("conductor", "op_result")
    assert "instance.uuid" in caplog.text and "'migrate'" in caplog.text


async def test_duplicate_op_id_answers_without_rerunning(
    bus: RecordingBus, agent: ComputeAgent
) -> None:
    driver = agent.driver
    assert isinstance(driver, FakeDriver)
    first = await agent.handle(op("reboot", op_id="dup") | {"op": "spawn"})
    await agent.handle(op("reboot", op_id="r-1"))
    again = await agent.handle(op("reboot", op_id="dup") | {"op": "spawn"})
    assert again == first
    assert driver.guests["i-1"].boot_count == 2  # spawn + one reboot, no re-run
    assert len(bus.on("conductor", "op_result")) == 3


async def test_duplicate_op_id_while_running_waits_for_the_first(bus: RecordingBus) -> None:
    driver = FakeDriver("hv3", boot_seconds=0.05)
    a = ComputeAgent("hv3", driver, bus, 3600)
    results = await asyncio.gather(
        a.handle(op("spawn", op_id="x")), a.handle(op("spawn", op_id="x"))
    )
    assert results[0] == results[1] and results[0]["ok"]
    assert driver.guests["i-1"].boot_count == 1
    assert len(bus.on("conductor", "op_result")) == 2
    await a.stop()


async def test_ops_of_one_instance_run_in_order(bus: RecordingBus) -> None:
    driver = FakeDriver("hv4", boot_seconds=0.02)
    a = ComputeAgent("hv4", driver, bus, 3600)
    await a.start()
    await bus.publish("compute.hv4", op("spawn"))
    await bus.publish("compute.hv4", op("power_off"))
    await bus.publish("compute.hv4", op("destroy"))
    await bus.wait_for(lambda _: len(bus.on("conductor", "op_result")) == 3)
    await a.drain()
    results = bus.on("conductor", "op_result")
    assert [r["op"] for r in results] == ["spawn", "power_off", "destroy"]
    assert all(r["ok"] for r in results)
    assert results[1]["power_state"] == int(PowerState.SHUTDOWN)
    assert results[2]["power_state"] == int(PowerState.NOSTATE)
    await a.stop()


async def test_hard_reboot_and_rebuild_results(agent: ComputeAgent) -> None:
    await agent.handle(op("spawn"))
    await agent.handle(op("power_off"))
    r = await agent.handle(op("reboot", reboot_type="HARD"))
    assert r["ok"] and r["power_state"] == int(PowerState.RUNNING)
    r = await agent.handle(op("rebuild"))
    assert r["ok"] and r["power_state"] == int(PowerState.RUNNING)


async def test_a_port_update_asks_the_driver_no_power_state(
    agent: ComputeAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nobody reads a port update's power state; on a baremetal node asking is a BMC call,
    # and a port sync sends one update to every peer of a changed group.
    await agent.handle(op("spawn"))
    asked: list[str] = []
    ask = agent.driver.get_power_state

    async def counting(instance: InstanceSpec) -> PowerState:
        asked.append(instance.uuid)
        return await ask(instance)

    monkeypatch.setattr(agent.driver, "get_power_state", counting)
    r = await agent.handle(op("update_ports", op_id="1-a"))
    assert r["ok"] and r["power_state"] == int(PowerState.NOSTATE)
    assert asked == []
    r = await agent.handle(op("power_off"))
    assert r["ok"] and r["power_state"] == int(PowerState.SHUTDOWN)
    assert asked == ["i-1"]


async def test_result_cache_is_bounded(bus: RecordingBus) -> None:
    driver = FakeDriver("hv5")
    a = ComputeAgent("hv5", driver, bus, 3600, result_cache_size=2)
    await a.handle(op("spawn", op_id="a"))
    await a.handle(op("destroy", op_id="b"))
    await a.handle(op("destroy", op_id="c"))
    # "a" fell out of the cache, so it runs again: the guest is back.
    await a.handle(op("spawn", op_id="a"))
    assert "i-1" in driver.guests


async def test_stop_cancels_ops_in_flight_without_answering(bus: RecordingBus) -> None:
    driver = FakeDriver("hv6", boot_seconds=3600)
    a = ComputeAgent("hv6", driver, bus, 3600)
    await a.start()
    await bus.publish("compute.hv6", op("spawn"))
    async with asyncio.timeout(10):
        # Polling is fine here: no event exists for "a message was dequeued".
        while not a.ops_in_flight:  # noqa: ASYNC110
            await asyncio.sleep(0)
    await a.stop()
    assert bus.on("conductor", "op_result") == []
    assert driver.guests == {}  # a cut boot leaves nothing behind


async def test_ops_arriving_after_stop_are_left_to_the_reconciler(bus: RecordingBus) -> None:
    """A process shutting down stops its agents before their drivers and its bus: an op
    delivered in between must not reach a closed driver and answer a failure (which the
    conductor would count as a failed build). It is dropped; the reconciler resends it."""
    driver = FakeDriver("hv7")
    a = ComputeAgent("hv7", driver, bus, 3600)
    await a.start()
    await a.stop()
    await bus.publish("compute.hv7", op("spawn", op_id="late"))
    await bus.publish("compute.hv7", op("spawn", uuid="i-2", op_id="late-2"))
    for _ in range(20):  # let the bus deliver them
        await asyncio.sleep(0)
    assert a.ops_in_flight == 0
    assert bus.on("conductor", "op_result") == []
    assert driver.guests == {}
