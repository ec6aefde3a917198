"""The driver contract, exercised on the emulated hypervisor."""

from __future__ import annotations

import pytest

from stockyard.compute.drivers import (
    ComputeDriver,
    DriverError,
    DriverNotSupported,
    InstanceNotFound,
    InstanceSpec,
    available_drivers,
    driver_class,
    load_driver,
)
from stockyard.compute.drivers.base import PowerState
from stockyard.compute.drivers.fake import FakeDriver


def spec(uuid: str = "i-1", **metadata: str) -> InstanceSpec:
    return InstanceSpec(
        uuid=uuid,
        name="web",
        hostname="web-1",
        image_ref="img-1",
        flavor={"vcpus": 2, "ram": 2048, "disk": 20},
        metadata=dict(metadata),
    )


def test_instance_spec_round_trips_the_contract_dict() -> None:
    data = {
        "uuid": "u1",
        "name": "n",
        "hostname": "h",
        "project_id": "p",
        "flavor": {"vcpus": 1},
        "image_ref": "img",
        "key_data": "ssh-ed25519 AAA",
        "user_data": None,
        "metadata": {"a": "b"},
        "addresses": {"public": [{"addr": "10.10.0.5", "version": 4}]},
        "host": "hv1",
        "node": "hv1",
        "ports": [
            {
                "id": "p1",
                "network_id": "n1",
                "network_name": "private",
                "mac_address": "fa:16:3e:00:00:01",
                "fixed_ips": [
                    {
                        "subnet_id": "s1",
                        "ip_address": "10.1.0.5",
                        "cidr": "10.1.0.0/24",
                        "version": 4,
                        "gateway_ip": "10.1.0.1",
                        "enable_dhcp": True,
                        "dns_nameservers": [],
                        "host_routes": [],
                        "ipv6_address_mode": None,
                    }
                ],
                "mtu": 1450,
                "network_type": None,
                "physical_network": None,
                "segmentation_id": None,
                "admin_state_up": True,
                "port_security_enabled": True,
                "security_rules": [
                    {
                        "direction": "ingress",
                        "ethertype": "IPv4",
                        "protocol": "icmp",
                        "port_range_min": None,
                        "port_range_max": None,
                        "remote_ips": ["10.1.0.6"],
                    }
                ],
            }
        ],
        "volumes": [
            {
                "volume_id": "v1",
                "attachment_id": "a1",
                "device": "/dev/vdb",
                "connection_info": {"driver_volume_type": "file", "data": {"path": "/x"}},
                "read_only": False,
                "boot_index": None,
            }
        ],
    }
    assert InstanceSpec.from_dict(data).to_dict() == data


def test_an_older_producer_without_ports_or_volumes_is_accepted() -> None:
    spec_ = InstanceSpec.from_dict({"uuid": "u1"})
    assert spec_.ports == [] and spec_.volumes == []


def test_instance_spec_requires_uuid() -> None:
    with pytest.raises(ValueError, match="uuid"):
        InstanceSpec.from_dict({"name": "x"})


async def test_spawn_runs_the_guest_and_is_idempotent() -> None:
    d = FakeDriver("hv1")
    await d.spawn(spec())
    await d.spawn(spec())
    assert await d.get_power_state(spec()) is PowerState.RUNNING
    assert d.guests["i-1"].boot_count == 1
    assert await d.list_instances() == {"i-1": PowerState.RUNNING}
    console = await d.get_console_output(spec(), None)
    assert "[stockyard-fake] web-1 booted (boot #1)" in console


async def test_spawn_of_a_stopped_guest_starts_it() -> None:
    d = FakeDriver("hv1")
    await d.spawn(spec())
    await d.power_off(spec())
    await d.spawn(spec())
    assert await d.get_power_state(spec()) is PowerState.RUNNING


async def test_destroy_is_idempotent_and_forgets_the_guest() -> None:
    d = FakeDriver("hv1")
    await d.destroy(spec())  # unknown: success
    await d.spawn(spec())
    await d.destroy(spec())
    await d.destroy(spec())
    assert await d.list_instances() == {}
    with pytest.raises(InstanceNotFound):
        await d.get_power_state(spec())


async def test_power_transitions() -> None:
    d = FakeDriver("hv1")
    await d.spawn(spec())
    await d.reboot(spec(), hard=False)
    assert await d.get_power_state(spec()) is PowerState.RUNNING
    await d.power_off(spec())
    await d.power_off(spec())
    assert await d.get_power_state(spec()) is PowerState.SHUTDOWN
    await d.power_on(spec())
    await d.power_on(spec())
    assert await d.get_power_state(spec()) is PowerState.RUNNING
    await d.power_off(spec())
    await d.reboot(spec(), hard=True)
    assert await d.get_power_state(spec()) is PowerState.RUNNING
    # spawn, soft reboot, power_on, hard reboot
    assert d.guests["i-1"].boot_count == 4


@pytest.mark.parametrize("verb", ["reboot", "power_on", "power_off"])
async def test_verbs_on_unknown_guest_raise_instance_not_found(verb: str) -> None:
    d = FakeDriver("hv1")
    with pytest.raises(InstanceNotFound, match="i-404"):
        if verb == "reboot":
            await d.reboot(spec("i-404"), hard=True)
        else:
            await getattr(d, verb)(spec("i-404"))


async def test_rebuild_takes_the_new_image_and_the_servers_power() -> None:
    d = FakeDriver("hv1")
    await d.spawn(spec())
    await d.power_off(spec())
    new = spec()
    new.image_ref = "img-2"
    await d.rebuild(new, stopped=True)
    guest = d.guests["i-1"]
    assert (guest.image_ref, guest.rebuild_count) == ("img-2", 1)
    assert guest.power_state is PowerState.SHUTDOWN
    # A server in ERROR whose guest was off: rebuilt, it runs (the server goes ACTIVE).
    await d.rebuild(new)
    assert await d.get_power_state(new) is PowerState.RUNNING
    await d.rebuild(new, stopped=True)
    assert await d.get_power_state(new) is PowerState.SHUTDOWN


async def test_rebuild_of_a_missing_guest_creates_it() -> None:
    d = FakeDriver("hv1")
    await d.rebuild(spec())
    assert await d.get_power_state(spec()) is PowerState.RUNNING
    d = FakeDriver("hv1")
    await d.rebuild(spec(), stopped=True)
    assert await d.get_power_state(spec()) is PowerState.SHUTDOWN


async def test_fail_spawn_flag_leaves_no_guest() -> None:
    d = FakeDriver("hv1", fail_spawn=True)
    with pytest.raises(DriverError, match="Emulated hypervisor refused to start the guest"):
        await d.spawn(spec())
    assert await d.list_instances() == {}
    d.fail_spawn = False
    await d.spawn(spec())
    assert await d.get_power_state(spec()) is PowerState.RUNNING


async def test_fail_spawn_metadata() -> None:
    d = FakeDriver("hv1")
    with pytest.raises(DriverError):
        await d.spawn(spec(**{"fake:fail_spawn": "true"}))
    await d.spawn(spec("i-2", **{"fake:fail_spawn": "false"}))


async def test_fail_on_hosts_fails_only_on_the_listed_hosts() -> None:
    bad, good = FakeDriver("hv1"), FakeDriver("hv2")
    s = spec(**{"fake:fail_on_hosts": "hv1, hv3"})
    with pytest.raises(DriverError, match="hv1"):
        await bad.spawn(s)
    await good.spawn(s)
    assert await good.get_power_state(s) is PowerState.RUNNING


async def test_fail_spawn_probability_is_seeded() -> None:
    async def failures(seed: int) -> list[bool]:
        d = FakeDriver("hv1", fail_spawn=0.5, seed=seed)
        out = []
        for i in range(40):
            try:
                await d.spawn(spec(f"i-{i}"))
                out.append(False)
            except DriverError:
                out.append(True)
        return out

    first = await failures(7)
    assert first == await failures(7)
    assert any(first) and not all(first)


async def test_resources_and_console_length() -> None:
    d = FakeDriver("hv1", vcpus=8, memory_mb=4096, local_gb=50)
    res = await d.get_resources()
    assert (res.vcpus, res.memory_mb, res.local_gb, res.hypervisor_type) == (8, 4096, 50, "fake")
    await d.spawn(spec())
    await d.reboot(spec(), hard=False)
    last = await d.get_console_output(spec(), 1)
    assert last.strip() == "[stockyard-fake] web-1 booted (boot #2)"


async def test_optional_console_defaults_to_not_supported() -> None:
    class Minimal(FakeDriver):
        name = "minimal"

    d = Minimal()
    # The base class default is what a driver without consoles gets.
    with pytest.raises(DriverNotSupported, match="minimal"):
        await ComputeDriver.get_console_output(d, spec(), None)


def test_registry_knows_fake() -> None:
    assert "fake" in available_drivers()
    assert driver_class("fake") is FakeDriver
    d = load_driver("fake", host="hv9", vcpus=4)
    assert isinstance(d, FakeDriver) and d.host == "hv9" and d.vcpus == 4
    with pytest.raises(DriverError, match="Unknown compute driver 'nope'"):
        driver_class("nope")
