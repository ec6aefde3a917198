"""The baremetal driver against a real hwmgr, real BMC protocol endpoints and the installer."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from stockyard.compute.drivers import driver_class
from stockyard.compute.drivers.baremetal import BaremetalDriver
from stockyard.compute.drivers.base import DriverError, InstanceNotFound, InstanceSpec, PowerState
from stockyard.hwmgr.emulators.redfish import RedfishEmulator, SystemSpec
from stockyard.hwmgr.service import HwmgrService
from tests.baremetal.conftest import TOKEN, Rig


def spec(node: str, image: str = "debian") -> InstanceSpec:
    return InstanceSpec(uuid=str(uuid.uuid4()), name="db", image_ref=image, host=node, node=node)


async def install_tasks(rig: Rig, name: str) -> list[dict[str, object]]:
    return [t for t in await rig.client.tasks(node=rig.uuids[name]) if t["type"] == "install"]


def test_registered_as_baremetal() -> None:
    assert driver_class("baremetal") is BaremetalDriver


async def test_spawn_runs_to_done_and_is_idempotent(rig: Rig) -> None:
    agent_view = rig.driver.for_node("rf1")
    inst = spec("rf1")
    await agent_view.spawn(inst)

    node = await rig.node("rf1")
    assert (node["provision_state"], node["power_state"]) == ("active", "on")
    assert await agent_view.get_power_state(inst) == PowerState.RUNNING
    assert await agent_view.list_instances() == {inst.uuid: PowerState.RUNNING}
    resources = await agent_view.get_resources()
    assert (resources.vcpus, resources.memory_mb, resources.hypervisor_type) == (
        32,
        131072,
        "baremetal",
    )

    # A resent spawn of the same instance: success, no second install.
    await agent_view.spawn(inst)
    assert len(await install_tasks(rig, "rf1")) == 1
    # Another instance cannot take the node.
    with pytest.raises(DriverError, match="in use by another instance"):
        await agent_view.spawn(spec("rf1"))


async def test_destroy_cleans_and_returns_the_node(rig: Rig) -> None:
    view = rig.driver.for_node("rf2")
    inst = spec("rf2")
    await view.spawn(inst)
    await view.destroy(inst)

    node = await rig.node("rf2")
    assert (node["provision_state"], node["power_state"]) == ("available", "off")
    assert [t["state"] for t in await rig.client.tasks(node=rig.uuids["rf2"])] == ["done", "done"]
    rig.driver.nodes_ttl = 0
    assert await view.list_instances() == {}
    # Unknown guest: success, nothing happens.
    await view.destroy(inst)
    with pytest.raises(InstanceNotFound):
        await view.get_power_state(inst)
    # The node is back in the pool: another instance deploys on it.
    await view.spawn(spec("rf2", "ubuntu"))


async def test_reboot_is_a_power_cycle_on_the_bmc(rig: Rig) -> None:
    view = rig.driver.for_node("ipmi1")
    inst = spec("ipmi1")
    await view.spawn(inst)
    before = list((await rig.ipmi.state("ipmi1"))["calls"])

    await view.reboot(inst, hard=True)

    calls = (await rig.ipmi.state("ipmi1"))["calls"]
    # pyghmi's hard reset ("reset") or a chassis power cycle: either is the BMC's.
    assert calls[len(before) :] in (["cycle"], ["reset"])
    assert await view.get_power_state(inst) == PowerState.RUNNING
    with pytest.raises(InstanceNotFound):
        await view.reboot(spec("ipmi1"), hard=True)


async def test_power_off_and_on(rig: Rig) -> None:
    view = rig.driver.for_node("ipmi1")
    inst = spec("ipmi1")
    await view.spawn(inst)
    await view.power_off(inst)
    assert (await rig.ipmi.state("ipmi1"))["power"] == "off"
    assert await view.get_power_state(inst) == PowerState.SHUTDOWN
    await view.power_off(inst)  # already off: fine
    await view.power_on(inst)
    assert await view.get_power_state(inst) == PowerState.RUNNING


async def test_the_power_query_after_a_verb_takes_what_the_verb_saw(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    # hwmgr answers a deploy or a power change once the BMC reported the new state: the
    # agent's power query right after it needs no second BMC round trip. Later queries
    # ask the BMC, so a power change behind our back is still seen.
    view = rig.driver.for_node("ipmi1")
    inst = spec("ipmi1")
    asked: list[str] = []
    ask = rig.driver.client.power

    async def counting(node_uuid: str) -> str:
        asked.append(node_uuid)
        return await ask(node_uuid)

    monkeypatch.setattr(rig.driver.client, "power", counting)
    await view.spawn(inst)
    assert await view.get_power_state(inst) == PowerState.RUNNING
    assert asked == []
    await rig.ipmi.set("ipmi1", "power", "off")  # someone pressed the button
    assert await view.get_power_state(inst) == PowerState.SHUTDOWN
    assert asked == [rig.uuids["ipmi1"]]
    await view.power_on(inst)
    assert await view.get_power_state(inst) == PowerState.RUNNING
    assert len(asked) == 1
    # What a verb saw answers only the instance it was done for.
    with pytest.raises(InstanceNotFound):
        await view.get_power_state(spec("ipmi1"))


async def test_rebuild_reinstalls_on_the_same_node(rig: Rig) -> None:
    view = rig.driver.for_node("rf1")
    inst = spec("rf1")
    await view.spawn(inst)
    inst.image_ref = "ubuntu"
    await view.rebuild(inst)

    installs = await install_tasks(rig, "rf1")
    assert [t["state"] for t in installs] == ["done", "done"]
    assert installs[-1]["image_checksum"] == rig.images.checksums["ubuntu"]
    assert (await rig.node("rf1"))["provision_state"] == "active"
    assert await view.get_power_state(inst) == PowerState.RUNNING


async def test_a_restarted_driver_still_knows_whose_node_it_is(rig: Rig) -> None:
    inst = spec("rf2")
    await rig.driver.for_node("rf2").spawn(inst)
    fresh = BaremetalDriver(rig.service.url, TOKEN, rig.images.url_for, poll_interval=0.1)
    try:
        assert await fresh.for_node("rf2").list_instances() == {inst.uuid: PowerState.RUNNING}
        await fresh.for_node("rf2").spawn(inst)  # idempotent across restarts too
        assert len(await install_tasks(rig, "rf2")) == 1
    finally:
        await fresh.close()


async def test_failed_install_is_a_driver_error_and_the_node_is_cleaned(rig: Rig) -> None:
    rig.installer.fail_nodes.add(rig.uuids["rf1"])
    view = rig.driver.for_node("rf1")
    with pytest.raises(
        DriverError, match=r"Deploy on baremetal node rf1 failed: .*disk write error"
    ):
        await view.spawn(spec("rf1"))
    # No debris: the node goes back to available on its own.
    rig.installer.fail_nodes.clear()
    async with asyncio.timeout(30):
        while (await rig.node("rf1"))["provision_state"] != "available":  # noqa: ASYNC110
            await asyncio.sleep(0.1)


async def test_unknown_image_fails_before_touching_the_node(rig: Rig) -> None:
    with pytest.raises(DriverError, match="Image nope has no data"):
        await rig.driver.for_node("rf1").spawn(spec("rf1", "nope"))
    assert (await rig.node("rf1"))["provision_state"] == "available"


async def test_a_bmc_that_refuses_is_a_driver_error_with_its_message(rig: Rig) -> None:
    system = SystemSpec(name="gone")
    async with RedfishEmulator([system], power_delay=0) as lost:
        bmc = {
            "driver": "redfish",
            "address": lost.host,
            "port": lost.port,
            "system_id": system.uuid,
            "username": lost.username,
            "password": lost.password.get_secret_value(),
        }
        await rig.enroll("gone", bmc)
    # The BMC is gone now: every connection to it is refused.
    with pytest.raises(DriverError) as caught:
        await rig.driver.for_node("gone").spawn(spec("gone"))
    message = caught.value.message
    assert message.startswith("Deploy on baremetal node gone failed:")
    assert "gone" in message and len(message) > len("Deploy on baremetal node gone failed: ")
    node = await rig.node("gone")
    assert node["provision_state"] in ("error", "cleaning")


async def test_concurrent_spawns_share_one_watcher(rig: Rig) -> None:
    insts = {name: spec(name) for name in ("rf1", "rf2", "ipmi1")}
    await asyncio.gather(*(rig.driver.for_node(n).spawn(i) for n, i in insts.items()))
    assert await rig.driver.list_instances() == {i.uuid: PowerState.RUNNING for i in insts.values()}
    assert rig.driver.watcher.watching == 0


async def test_hwmgr_restarted_mid_install_still_ends_active(rig: Rig) -> None:
    # hwmgr goes away while the installer fetches or writes: its HTTP retries (as a
    # PXE-booted machine's) carry it over the restart.
    rig.installer.install_seconds = 5.0
    view = rig.driver.for_node("ipmi1")
    inst = spec("ipmi1")
    spawn = asyncio.create_task(view.spawn(inst))
    async with asyncio.timeout(30):
        while rig.uuids["ipmi1"] not in rig.installer.booted:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    port = int(rig.service.url.rsplit(":", 1)[1])
    await rig.service.stop()  # killed while the installer writes the disk
    rig.service = HwmgrService(
        rig.service.settings.model_copy(update={"port": port}),
        observers=[rig.installer],
        host_id="bm-tests",
    )
    await rig.service.start()

    await asyncio.wait_for(spawn, 60)
    assert (await rig.node("ipmi1"))["provision_state"] == "active"
    assert await view.list_instances() == {inst.uuid: PowerState.RUNNING}
