"""What the agent tells the conductor about a libvirt guest (test:///default): the ssh
endpoint and NIC in spawn and rebuild results, and the console on request."""

from __future__ import annotations

import uuid
from typing import Any

from stockyard.bus.contract import CONSOLE_OP
from stockyard.compute.agent import ComputeAgent
from tests.compute.busutil import RecordingBus
from tests.libvirt.conftest import make_spec


def _op(name: str, instance: dict[str, Any]) -> dict[str, Any]:
    return {"type": "op", "op": name, "op_id": uuid.uuid4().hex, "instance": instance}


async def test_spawn_and_rebuild_results_carry_the_guests_endpoint(driver: Any) -> None:
    bus = RecordingBus()
    agent = ComputeAgent("test-host", driver, bus)
    instance = make_spec().to_dict()
    spawned = await agent.handle(_op("spawn", instance))
    assert spawned["ok"], spawned
    host, _, port = spawned["metadata"]["ssh_endpoint"].partition(":")
    assert host == "127.0.0.1" and port.isdigit()
    assert spawned["addresses"]["user"][0]["addr"] == "10.0.2.15"
    rebuilt = await agent.handle(_op("rebuild", instance))
    assert rebuilt["metadata"] == spawned["metadata"]
    # Other ops change nothing the conductor shows, so they carry no view.
    stopped = await agent.handle(_op("power_off", instance))
    assert stopped["ok"] and stopped["metadata"] is None and stopped["addresses"] is None
    await agent.handle(_op("destroy", instance))
    await bus.close()


async def test_console_op_is_answered_on_its_reply_topic(driver: Any) -> None:
    bus = RecordingBus()
    agent = ComputeAgent("test-host", driver, bus)
    instance = make_spec().to_dict()
    await agent.handle(_op("spawn", instance))
    ask = {**_op(CONSOLE_OP, instance), "length": 5, "reply_to": "reply.x", "reply_id": "r1"}
    reply = await agent.handle(ask)
    # test:///default runs no guest, so its console log is empty; but it is known.
    assert reply["ok"] and reply["output"] == "" and reply["reply_id"] == "r1"
    unknown = await agent.handle({**ask, "instance": {"uuid": str(uuid.uuid4())}})
    assert not unknown["ok"] and unknown["code"] == 404
    assert [m["reply_id"] for m in bus.on("reply.x")] == ["r1", "r1"]
    assert bus.on("conductor", "console_output") == []
    await agent.handle(_op("destroy", instance))
    await bus.close()


async def test_the_settings_build_the_libvirt_hosts_agent(data_dir: Any) -> None:
    from stockyard.lab.libvirt_host import build_libvirt_agent
    from stockyard.settings import Settings

    settings = Settings(
        data_dir=data_dir, libvirt_uri="test:///default", libvirt_host="kvm-7",
        libvirt_virt_type="qemu",
    )  # fmt: skip
    bus = RecordingBus()
    agent = build_libvirt_agent(settings, bus, report_interval=3600)
    assert agent is not None and agent.host == "kvm-7" and agent.driver.name == "libvirt"
    await agent.start()
    (report,) = bus.on("conductor", "host_report")
    assert report["host"] == "kvm-7" and report["hypervisor_type"] == "QEMU"
    assert report["vcpus"] > 0 and report["memory_mb"] > 0
    await agent.stop()
    await bus.close()
