"""The compute agent running ops on the libvirt driver (test:///default): what the
conductor hears back, including libvirt's own message when it says no."""

from __future__ import annotations

import uuid
from typing import Any

from stockyard.bus.memory import MemoryBus
from stockyard.compute.agent import ComputeAgent
from stockyard.compute.drivers.base import PowerState
from tests.libvirt.conftest import make_spec


def op(name: str, instance: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "op",
        "op": name,
        "op_id": uuid.uuid4().hex,
        "reboot_type": "HARD",
        "instance": instance,
        "request_id": "req-1",
    }


async def test_agent_reports_libvirt_guest_states(driver: Any) -> None:
    bus = MemoryBus()
    agent = ComputeAgent("test-host", driver, bus)
    instance = make_spec().to_dict()
    result = await agent.handle(op("spawn", instance))
    assert result["ok"] and result["power_state"] == int(PowerState.RUNNING)
    result = await agent.handle(op("power_off", instance))
    assert result["ok"] and result["power_state"] == int(PowerState.SHUTDOWN)
    report = await agent.host_report()
    assert report["hypervisor_type"] == "QEMU"
    assert report["power_states"][instance["uuid"]] == int(PowerState.SHUTDOWN)
    result = await agent.handle(op("destroy", instance))
    assert result["ok"] and result["power_state"] == int(PowerState.NOSTATE)


async def test_agent_turns_a_failed_spawn_into_a_readable_error(driver: Any) -> None:
    agent = ComputeAgent("test-host", driver, MemoryBus())
    instance = make_spec(image_ref="missing-image").to_dict()
    result = await agent.handle(op("spawn", instance))
    assert not result["ok"]
    assert result["error"] == "Image missing-image has no data on this host."
    assert result["details"] == "DriverError"


async def test_agent_refuses_a_volume_op_that_names_no_volume(driver: Any) -> None:
    agent = ComputeAgent("test-host", driver, MemoryBus())
    instance = make_spec().to_dict()
    result = await agent.handle(op("detach_volume", instance))
    assert not result["ok"]
    assert result["error"] == f"detach_volume of instance {instance['uuid']} names no volume."
