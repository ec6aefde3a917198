"""The agent hands interface ops to the driver: attach, detach, update_ports."""

from __future__ import annotations

import asyncio
from typing import Any

from stockyard.bus.base import Message
from stockyard.compute.agent import ComputeAgent
from stockyard.compute.drivers.base import DriverError, InstanceSpec, PortSpec
from stockyard.compute.drivers.fake import FakeDriver
from tests.compute.busutil import RecordingBus


class PortRecordingDriver(FakeDriver):
    """A fake host that records the port verbs it gets (and fails when told to)."""

    def __init__(self) -> None:
        super().__init__("hv1", vcpus=8, memory_mb=8192, local_gb=80)
        self.calls: list[tuple[str, str]] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def attach_interface(self, instance: InstanceSpec, port: PortSpec) -> None:
        self.calls.append(("attach", port.id))

    async def detach_interface(self, instance: InstanceSpec, port_id: str) -> None:
        self.calls.append(("detach", port_id))

    async def update_ports(self, instance: InstanceSpec) -> None:
        await self.gate.wait()
        rules = ",".join(str(len(p.security_rules)) for p in instance.ports)
        if instance.metadata.get("fail"):
            raise DriverError("nft is not installed on host hv1")
        self.calls.append(("update", rules))


def port(port_id: str, rules: int = 0) -> dict[str, Any]:
    return {
        "id": port_id,
        "network_id": "net-1",
        "mac_address": "fa:16:3e:00:00:01",
        "security_rules": [{"direction": "ingress"}] * rules,
    }


def op(kind: str, op_id: str, ports: list[dict[str, Any]], **extra: Any) -> Message:
    instance = InstanceSpec.from_dict({"uuid": "i-1", "ports": ports, **extra.pop("inst", {})})
    return {
        "type": "op",
        "op": kind,
        "op_id": op_id,
        "instance": instance.to_dict(),
        **extra,
    }


async def test_interface_ops_reach_the_driver() -> None:
    drv = PortRecordingDriver()
    agent = ComputeAgent("hv1", drv, RecordingBus(), 3600)
    await drv.spawn(InstanceSpec(uuid="i-1"))
    # Two attaches of different ports at once are two pieces of work, not one.
    first, second = await asyncio.gather(
        agent.handle(op("attach_interface", "a1", [port("p1")], port=port("p1"))),
        agent.handle(op("attach_interface", "a2", [port("p2")], port=port("p2"))),
    )
    assert first["ok"] and second["ok"]
    r = await agent.handle(op("detach_interface", "d1", [], port_id="p1"))
    assert r["ok"]
    assert sorted(drv.calls) == [("attach", "p1"), ("attach", "p2"), ("detach", "p1")]


async def test_a_newer_update_ports_never_joins_an_older_one() -> None:
    drv = PortRecordingDriver()
    agent = ComputeAgent("hv1", drv, RecordingBus(), 3600)
    await drv.spawn(InstanceSpec(uuid="i-1"))
    drv.gate.clear()
    older = asyncio.create_task(agent.handle(op("update_ports", "u1", [port("p1", 2)])))
    await asyncio.sleep(0)
    newer = asyncio.create_task(agent.handle(op("update_ports", "u2", [port("p1", 1)])))
    await asyncio.sleep(0)
    drv.gate.set()
    await asyncio.gather(older, newer)
    assert drv.calls == [("update", "2"), ("update", "1")]


async def test_update_ports_failure_is_the_drivers_message() -> None:
    drv = PortRecordingDriver()
    agent = ComputeAgent("hv1", drv, RecordingBus(), 3600)
    await drv.spawn(InstanceSpec(uuid="i-1"))
    r = await agent.handle(op("update_ports", "u1", [port("p1")], inst={"metadata": {"fail": "1"}}))
    assert not r["ok"]
    assert r["error"] == "nft is not installed on host hv1"
