"""The libvirt driver against libvirt's test:///default driver: real API, no hypervisor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from stockyard.compute.drivers import available_drivers, driver_class
from stockyard.compute.drivers.base import DriverError, InstanceNotFound, PowerState
from stockyard.compute.drivers.libvirt.domain import read_metadata
from tests.libvirt.conftest import make_spec

pytestmark = pytest.mark.usefixtures("tools")


def domain_xml(driver: Any, instance_uuid: str) -> str:
    return str(driver._lookup(instance_uuid).XMLDesc(0))


def test_registered_as_libvirt() -> None:
    assert "libvirt" in available_drivers()
    assert driver_class("libvirt").name == "libvirt"


async def test_spawn_defines_and_starts_the_domain(driver: Any, data_dir: Path) -> None:
    spec = make_spec()
    await driver.spawn(spec)
    assert await driver.get_power_state(spec) == PowerState.RUNNING
    assert (await driver.list_instances())[spec.uuid] == PowerState.RUNNING
    xml = domain_xml(driver, spec.uuid)
    assert f"<name>stockyard-{spec.uuid}</name>" in xml
    assert read_metadata(xml)["uuid"] == spec.uuid
    idir = data_dir / "libvirt" / "instances" / spec.uuid
    assert (idir / "disk.qcow2").is_file()
    assert (idir / "config.iso").is_file()
    assert len(list((data_dir / "libvirt" / "base").iterdir())) == 1


async def test_spawn_reports_a_loopback_ssh_endpoint_and_address(driver: Any) -> None:
    spec = make_spec()
    await driver.spawn(spec)
    endpoint = (await driver.get_instance_metadata(spec))["ssh_endpoint"]
    host, _, port = endpoint.partition(":")
    assert host == "127.0.0.1" and port.isdigit()
    addresses = await driver.get_addresses(spec)
    assert addresses["user"][0]["addr"] == "10.0.2.15"


async def test_spawn_twice_is_a_success_and_starts_a_stopped_guest(driver: Any) -> None:
    spec = make_spec()
    await driver.spawn(spec)
    await driver.spawn(spec)
    await driver.power_off(spec)
    await driver.spawn(spec)
    assert await driver.get_power_state(spec) == PowerState.RUNNING


async def test_power_off_and_on_are_idempotent(driver: Any) -> None:
    spec = make_spec()
    await driver.spawn(spec)
    await driver.power_off(spec)
    await driver.power_off(spec)
    assert await driver.get_power_state(spec) == PowerState.SHUTDOWN
    assert (await driver.list_instances())[spec.uuid] == PowerState.SHUTDOWN
    await driver.power_on(spec)
    await driver.power_on(spec)
    assert await driver.get_power_state(spec) == PowerState.RUNNING


@pytest.mark.parametrize("hard", [True, False])
async def test_reboot_keeps_it_running_and_starts_a_stopped_guest(driver: Any, hard: bool) -> None:
    spec = make_spec()
    await driver.spawn(spec)
    await driver.reboot(spec, hard=hard)
    assert await driver.get_power_state(spec) == PowerState.RUNNING
    await driver.power_off(spec)
    await driver.reboot(spec, hard=hard)
    assert await driver.get_power_state(spec) == PowerState.RUNNING


async def test_rebuild_gives_a_fresh_disk_and_keeps_the_port(driver: Any, data_dir: Path) -> None:
    spec = make_spec()
    await driver.spawn(spec)
    disk = data_dir / "libvirt" / "instances" / spec.uuid / "disk.qcow2"
    disk.write_bytes(b"guest wrote here")
    endpoint = await driver.get_instance_metadata(spec)
    await driver.rebuild(spec)
    assert disk.read_bytes()[:4] == b"QFI\xfb"  # a new qcow2 overlay
    assert await driver.get_instance_metadata(spec) == endpoint
    assert await driver.get_power_state(spec) == PowerState.RUNNING


async def test_rebuild_follows_the_servers_state_not_the_old_guests(driver: Any) -> None:
    spec = make_spec()
    await driver.spawn(spec)
    await driver.power_off(spec)
    await driver.rebuild(spec, stopped=True)
    assert await driver.get_power_state(spec) == PowerState.SHUTDOWN
    # A server in ERROR with its guest off comes out of a rebuild ACTIVE: the guest runs.
    await driver.rebuild(spec)
    assert await driver.get_power_state(spec) == PowerState.RUNNING


async def test_rebuild_of_an_unknown_guest_creates_it(driver: Any) -> None:
    spec = make_spec()
    await driver.rebuild(spec)
    assert await driver.get_power_state(spec) == PowerState.RUNNING


async def test_destroy_removes_domain_and_files_and_is_idempotent(
    driver: Any, data_dir: Path
) -> None:
    spec = make_spec()
    await driver.spawn(spec)
    await driver.destroy(spec)
    await driver.destroy(spec)
    assert spec.uuid not in await driver.list_instances()
    assert not (data_dir / "libvirt" / "instances" / spec.uuid).exists()
    with pytest.raises(InstanceNotFound):
        await driver.get_power_state(spec)


async def test_unknown_guest_is_instance_not_found(driver: Any) -> None:
    spec = make_spec()
    for call in (driver.power_on, driver.power_off, driver.get_power_state):
        with pytest.raises(InstanceNotFound):
            await call(spec)
    with pytest.raises(InstanceNotFound):
        await driver.reboot(spec, hard=True)
    with pytest.raises(InstanceNotFound):
        await driver.get_console_output(spec, 10)


async def test_list_instances_shows_only_stockyard_guests(driver: Any) -> None:
    spec = make_spec()
    await driver.spawn(spec)
    listed = await driver.list_instances()
    assert spec.uuid in listed
    assert "test" not in listed  # test:///default's own domain


async def test_missing_image_fails_and_leaves_nothing(driver: Any, data_dir: Path) -> None:
    spec = make_spec(image_ref="no-such-image")
    with pytest.raises(DriverError, match="no data on this host"):
        await driver.spawn(spec)
    assert spec.uuid not in await driver.list_instances()
    assert not (data_dir / "libvirt" / "instances" / spec.uuid).exists()


async def test_libvirt_refusal_is_a_driver_error_with_its_message(driver: Any) -> None:
    spec = make_spec()
    # Another domain already holds the instance's uuid: libvirt refuses the definition.
    squatter = f"""<domain type='test'><name>squatter</name><uuid>{spec.uuid}</uuid>
        <memory>65536</memory><os><type>hvm</type></os></domain>"""
    conn = driver._connection()
    conn.defineXML(squatter)
    try:
        with pytest.raises(DriverError, match=f"libvirt on test-host: .*{spec.uuid}"):
            await driver.spawn(spec)
    finally:
        conn.lookupByName("squatter").undefine()
    assert spec.uuid not in await driver.list_instances()


async def test_unreachable_libvirt_is_a_driver_error(data_dir: Path) -> None:
    from stockyard.compute.drivers.libvirt import LibvirtDriver

    drv = LibvirtDriver("h", uri="test:///nonexistent/file.xml", data_dir=data_dir)
    with pytest.raises(DriverError, match="libvirt on h"):
        await drv.get_resources()


async def test_host_resources(driver: Any) -> None:
    res = await driver.get_resources()
    assert res.hypervisor_type == "QEMU"
    assert res.vcpus > 0 and res.memory_mb > 0 and res.local_gb > 0


async def test_console_output_tail(driver: Any, data_dir: Path) -> None:
    spec = make_spec()
    await driver.spawn(spec)
    assert await driver.get_console_output(spec, None) == ""
    log = data_dir / "libvirt" / "instances" / spec.uuid / "console.log"
    log.write_bytes(b"one\r\ntwo\r\nSTOCKYARD-READY vm1\r\n")
    assert await driver.get_console_output(spec, 2) == "two\nSTOCKYARD-READY vm1"
    assert await driver.get_console_output(spec, None) == "one\ntwo\nSTOCKYARD-READY vm1"


async def test_data_dir_qemu_cannot_reach_is_a_readable_fault(data_dir: Path) -> None:
    from stockyard.compute.drivers.libvirt.storage import DiskManager

    hidden = data_dir / "private"
    hidden.mkdir(mode=0o700)
    hidden.chmod(0o700)
    disks = DiskManager(hidden / "data" / "libvirt")
    with pytest.raises(DriverError, match="not searchable by other users"):
        await disks.check_reachable()


async def test_a_domain_deleted_while_listing_is_left_out(driver: Any) -> None:
    stays, goes = make_spec(), make_spec()
    await driver.spawn(stays)
    await driver.spawn(goes)
    conn = driver._connection()

    class Racing:
        """The connection, but a delete lands between the listing and the reads."""

        def __getattr__(self, name: str) -> Any:
            return getattr(conn, name)

        def listAllDomains(self) -> list[Any]:  # libvirt's name
            domains = conn.listAllDomains()
            gone = conn.lookupByName(f"stockyard-{goes.uuid}")
            gone.destroy()
            gone.undefine()
            return list(domains)

    driver._connection = lambda: Racing()
    try:
        listed = await driver.list_instances()
    finally:
        del driver._connection
    assert listed == {stays.uuid: PowerState.RUNNING}
