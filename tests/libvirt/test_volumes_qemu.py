"""Volumes on real QEMU guests: live attach and detach, a marker carried from one VM to
another (file and lvm backends), attachments kept across a hard reboot, boot from a
volume, and a guest that never releases a volume.

Same prerequisites as ``test_qemu_boot`` (libvirtd with QEMU, the stockyard-tiny image);
skips without them, except with CI=true and ``STOCKYARD_LIBVIRT_URI`` set. The tiny guest
has no udev, so ``/dev/disk/by-id`` is not populated; the serial it would be named after
is read from ``/sys/block/vdX/serial``, the same value udev uses.
"""

from __future__ import annotations

import asyncio
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import libvirt
import pytest

from stockyard.bus.contract import VolumeAttachmentSpec
from stockyard.bus.memory import MemoryBus
from stockyard.compute.agent import ComputeAgent
from stockyard.compute.drivers.base import InstanceSpec
from stockyard.compute.drivers.libvirt.volumes import volume_disks_in
from stockyard.volume.drivers.base import Connector, VolumeRef
from stockyard.volume.drivers.file import FileDriver
from stockyard.volume.drivers.lvm import LvmDriver
from tests.libvirt import test_qemu_boot as boot
from tests.libvirt.conftest import make_spec
from tests.lvm_group import NO_DM, device_mapper, loop_volume_group

# The fixtures of the boot test, shared (pytest finds fixtures by module attribute).
tiny_image = boot.tiny_image
vm_data_dir = boot.vm_data_dir
qemu_driver = boot.qemu_driver
ssh_key = boot.ssh_key

MARK = "STOCKYARD-VOLUME-MARK"
# The PIIX4 ACPI hot-plug event of QEMU's ``pc`` machine is GPE 1: a guest that masks it
# never sees an unplug request, as a guest without ACPI hot-plug support would.
HOTPLUG_GPE = "/sys/firmware/acpi/interrupts/gpe01"


async def _boot(drv: Any, key: Path, name: str, **extra: Any) -> tuple[InstanceSpec, str]:
    fields: dict[str, Any] = {
        "hostname": name,
        "image_ref": "stockyard-tiny",
        "flavor": {"vcpus": 1, "ram": 256, "disk": 1},
        "key_data": key.with_suffix(".pub").read_text(),
    }
    spec = make_spec(**{**fields, **extra})
    drv.created_here.append(spec.uuid)
    await drv.spawn(spec)
    await boot.wait_for_markers(drv, spec, 1)
    port = (await drv.get_instance_metadata(spec))["ssh_endpoint"].partition(":")[2]
    return spec, port


async def _file_volume(data_dir: Path, size_gb: int = 1) -> VolumeAttachmentSpec:
    backend = FileDriver("file", data_dir / "volumes")
    await backend.check()
    ref = VolumeRef(id=str(uuid.uuid4()), size_gb=size_gb)
    ref = VolumeRef(ref.id, ref.size_gb, await backend.create(ref))
    info = await backend.initialize_connection(ref, Connector(host="local"))
    return VolumeAttachmentSpec(volume_id=ref.id, device="/dev/vdb", connection_info=info.to_dict())


async def _guest_serial(key: Path, port: str, dev: str, present: bool) -> str:
    """The serial of guest disk ``dev`` once it is there (or "" once it is gone)."""
    for _ in range(120):
        out = await boot.ssh(key, port, f"cat /sys/block/{dev}/serial 2>/dev/null || true")
        if bool(out) == present:
            return out
        await asyncio.sleep(0.5)
    pytest.fail(f"guest disk {dev} never became {'present' if present else 'absent'}")


def _volume_ids(drv: Any, spec: InstanceSpec, flags: int) -> set[str]:
    conn = libvirt.open(drv.uri)
    try:
        dom = conn.lookupByName(f"stockyard-{spec.uuid}")
        return set(volume_disks_in(dom.XMLDesc(flags)))
    finally:
        conn.close()


def _attached(drv: Any, spec: InstanceSpec) -> tuple[set[str], set[str]]:
    """Volume ids in the live guest and in its persistent definition."""
    return _volume_ids(drv, spec, 0), _volume_ids(drv, spec, libvirt.VIR_DOMAIN_XML_INACTIVE)


def _op(name: str, spec: InstanceSpec, volume: VolumeAttachmentSpec) -> dict[str, Any]:
    return {
        "type": "op",
        "op": name,
        "op_id": uuid.uuid4().hex,
        "instance": spec.to_dict(),
        "volume": volume.model_dump(),
        "request_id": "req-volumes",
    }


async def test_marker_moves_between_guests_and_survives_hard_reboot(
    qemu_driver: Any, vm_data_dir: Path, ssh_key: Path
) -> None:
    drv = qemu_driver
    (vm1, port1), (vm2, port2) = await asyncio.gather(
        _boot(drv, ssh_key, "vm1"), _boot(drv, ssh_key, "vm2")
    )
    volume = await _file_volume(vm_data_dir)
    vid = volume.volume_id

    await drv.attach_volume(vm1, volume)
    await drv.attach_volume(vm1, volume)  # attaching an attached volume succeeds
    assert await _guest_serial(ssh_key, port1, "vdb", True) == vid[:20]
    assert _attached(drv, vm1) == ({vid}, {vid})
    await boot.ssh(ssh_key, port1, f"echo {MARK} | dd of=/dev/vdb bs=4k conv=fsync")

    # In the definition too: a hard reboot (a new QEMU process) keeps the volume.
    await drv.reboot(vm1, hard=True)
    await boot.wait_for_markers(drv, vm1, 2)
    assert await _guest_serial(ssh_key, port1, "vdb", True) == vid[:20]

    await drv.detach_volume(vm1, volume, 60)
    assert await _guest_serial(ssh_key, port1, "vdb", False) == ""
    assert _attached(drv, vm1) == (set(), set())
    await drv.detach_volume(vm1, volume, 60)  # detaching a detached volume succeeds

    # The second guest through the compute agent, as the conductor sends the ops.
    agent = ComputeAgent("local", drv, MemoryBus(), volume_detach_timeout=5)
    result = await agent.handle(_op("attach_volume", vm2, volume))
    assert result["ok"], result
    assert await _guest_serial(ssh_key, port2, "vdb", True) == vid[:20]
    assert MARK in await boot.ssh(ssh_key, port2, "head -c 64 /dev/vdb")

    # A guest that never acknowledges the unplug: a readable fault, the volume attached.
    await boot.ssh(ssh_key, port2, f"echo disable > {HOTPLUG_GPE}")
    result = await agent.handle(_op("detach_volume", vm2, volume))
    assert not result["ok"] and result["details"] == "DriverError"
    assert f"did not release volume {vid} within 5 s" in result["error"]
    assert "stays attached" in result["error"]
    assert _attached(drv, vm2) == ({vid}, {vid})
    assert MARK in await boot.ssh(ssh_key, port2, "head -c 64 /dev/vdb")
    # Once the guest listens again, a retried detach completes.
    await boot.ssh(ssh_key, port2, f"echo enable > {HOTPLUG_GPE}")
    result = await agent.handle(_op("detach_volume", vm2, volume))
    assert result["ok"], result
    assert await _guest_serial(ssh_key, port2, "vdb", False) == ""
    assert _attached(drv, vm2) == (set(), set())


async def test_boot_from_volume_with_a_second_volume(
    qemu_driver: Any, vm_data_dir: Path, ssh_key: Path, tiny_image: Path
) -> None:
    drv = qemu_driver
    root = await _file_volume(vm_data_dir)
    path = root.connection_info["data"]["path"]
    # The volume role copies an image into a new volume the same way (qemu-img convert).
    proc = await asyncio.create_subprocess_exec(
        "qemu-img", "convert", "-q", "-O", "qcow2", str(tiny_image), path
    )
    assert await proc.wait() == 0
    root = root.model_copy(update={"boot_index": 0, "device": "/dev/vda"})
    data = await _file_volume(vm_data_dir)
    spec, port = await _boot(
        drv, ssh_key, "bfv", image_ref="", volumes=[root.model_dump(), data.model_dump()]
    )
    assert await _guest_serial(ssh_key, port, "vda", True) == root.volume_id[:20]
    assert await _guest_serial(ssh_key, port, "vdb", True) == data.volume_id[:20]
    conn = libvirt.open(drv.uri)
    try:
        xml = conn.lookupByName(f"stockyard-{spec.uuid}").XMLDesc(0)
    finally:
        conn.close()
    sources = [s.get("file") for s in ET.fromstring(xml).iterfind("devices/disk/source")]
    assert path in sources
    assert not any(str(s).endswith("disk.qcow2") for s in sources)  # no image disk

    # Destroying the server leaves its volumes' data where the backend keeps it.
    await drv.destroy(spec)
    assert await asyncio.to_thread(Path(path).exists)


async def test_lvm_volume_marker_moves_between_guests(
    qemu_driver: Any, vm_data_dir: Path, ssh_key: Path
) -> None:
    if not device_mapper():
        pytest.skip(NO_DM)
    drv = qemu_driver
    with loop_volume_group(2) as group:
        backend = LvmDriver("lvm", group)
        await backend.check()
        ref = VolumeRef(str(uuid.uuid4()), 1)
        ref = VolumeRef(ref.id, 1, await backend.create(ref))
        info = await backend.initialize_connection(ref, Connector(host="local"))
        assert info.driver_volume_type == "local"
        volume = VolumeAttachmentSpec(
            volume_id=ref.id, device="/dev/vdb", connection_info=info.to_dict()
        )
        (vm1, port1), (vm2, port2) = await asyncio.gather(
            _boot(drv, ssh_key, "lvm1"), _boot(drv, ssh_key, "lvm2")
        )
        await drv.attach_volume(vm1, volume)
        assert await _guest_serial(ssh_key, port1, "vdb", True) == ref.id[:20]
        await boot.ssh(ssh_key, port1, f"echo {MARK} | dd of=/dev/vdb bs=4k conv=fsync")
        await drv.detach_volume(vm1, volume, 60)
        assert await _guest_serial(ssh_key, port1, "vdb", False) == ""
        await drv.attach_volume(vm2, volume)
        assert MARK in await boot.ssh(ssh_key, port2, "head -c 64 /dev/vdb")
        await drv.detach_volume(vm2, volume, 60)
        assert _attached(drv, vm2) == (set(), set())
        for spec in (vm1, vm2):
            await drv.destroy(spec)
        await backend.delete(ref)
