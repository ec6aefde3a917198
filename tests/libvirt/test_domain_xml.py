"""The domain XML a Stockyard guest is defined with."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from stockyard.compute.drivers.libvirt.domain import (
    METADATA_NS,
    QEMU_NS,
    DomainConfig,
    build_domain_xml,
    mac_for,
    read_metadata,
)

UUID = "6f1d2c3b-4a59-4e6f-8a7b-9c0d1e2f3a4b"


def config(**overrides: object) -> DomainConfig:
    values: dict[str, object] = {
        "instance_uuid": UUID,
        "display_name": "vm1",
        "vcpus": 2,
        "memory_mb": 512,
        "root_disk": Path("/data/libvirt/instances/x/disk.qcow2"),
        "console_log": Path("/data/libvirt/instances/x/console.log"),
        "config_drive": Path("/data/libvirt/instances/x/config.iso"),
        "ssh_port": 40022,
        "image_ref": "img-1",
    }
    values.update(overrides)
    return DomainConfig(**values)  # type: ignore[arg-type]


def parse(cfg: DomainConfig) -> ET.Element:
    return ET.fromstring(build_domain_xml(cfg))


def test_flavor_sizes_name_and_uuid() -> None:
    dom = parse(config())
    assert dom.get("type") == "qemu"
    assert dom.findtext("name") == f"stockyard-{UUID}"
    assert dom.findtext("uuid") == UUID
    assert dom.findtext("vcpu") == "2"
    memory = dom.find("memory")
    assert memory is not None and memory.text == "512" and memory.get("unit") == "MiB"


def test_kvm_domain_uses_host_cpu_and_tcg_does_not() -> None:
    assert parse(config(virt_type="kvm")).find("cpu") is not None
    assert parse(config(virt_type="qemu")).find("cpu") is None
    assert parse(config(virt_type="kvm")).get("type") == "kvm"


def test_metadata_carries_instance_uuid_and_port() -> None:
    xml = build_domain_xml(config())
    inst = ET.fromstring(xml).find(f"metadata/{{{METADATA_NS}}}instance")
    assert inst is not None
    assert read_metadata(xml)["uuid"] == UUID
    assert read_metadata(xml)["ssh_port"] == "40022"


def test_root_disk_is_the_qcow2_overlay_and_config_drive_a_cdrom() -> None:
    dom = parse(config())
    disk = dom.find("devices/disk[@device='disk']")
    assert disk is not None
    assert disk.find("driver").get("type") == "qcow2"  # type: ignore[union-attr]
    assert disk.find("source").get("file").endswith("disk.qcow2")  # type: ignore[union-attr]
    cdrom = dom.find("devices/disk[@device='cdrom']")
    assert cdrom is not None and cdrom.find("readonly") is not None
    assert cdrom.find("source").get("file").endswith("config.iso")  # type: ignore[union-attr]


def test_serial_console_goes_to_a_file() -> None:
    serial = parse(config()).find("devices/serial")
    assert serial is not None and serial.get("type") == "file"
    assert serial.find("source").get("path").endswith("console.log")  # type: ignore[union-attr]


def test_user_network_forwards_ssh_from_loopback_only() -> None:
    dom = parse(config())
    args = [a.get("value") or "" for a in dom.iter(f"{{{QEMU_NS}}}arg")]
    netdev = next(a for a in args if a.startswith("user,"))
    assert "hostfwd=tcp:127.0.0.1:40022-:22" in netdev
    assert any(mac_for(UUID) in a for a in args)
    assert dom.find("devices/interface") is None


def test_libvirt_network_and_bridge_modes() -> None:
    nic = parse(config(network="network:default", ssh_port=None)).find("devices/interface")
    assert nic is not None and nic.get("type") == "network"
    assert nic.find("source").get("network") == "default"  # type: ignore[union-attr]
    nic = parse(config(network="bridge:br0", ssh_port=None)).find("devices/interface")
    assert nic is not None and nic.find("source").get("bridge") == "br0"  # type: ignore[union-attr]
    assert not list(parse(config(network="bridge:br0")).iter(f"{{{QEMU_NS}}}arg"))


def test_direct_kernel_boot() -> None:
    os_el = parse(config(kernel=Path("/k/vmlinuz"), ramdisk=Path("/k/initrd"))).find("os")
    assert os_el is not None
    assert os_el.findtext("kernel") == "/k/vmlinuz"
    assert os_el.findtext("initrd") == "/k/initrd"
    assert "console=ttyS0" in (os_el.findtext("cmdline") or "")
    assert os_el.find("boot") is None


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"vcpus": 0}, "vcpus"),
        ({"memory_mb": 1}, "ram"),
        ({"ssh_port": None}, "ssh_port"),
    ],
)
def test_bad_config_is_refused(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        config(**overrides)


def test_unknown_network_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown network"):
        build_domain_xml(config(network="vxlan:x"))


def test_mac_is_stable_per_instance() -> None:
    assert mac_for(UUID) == mac_for(UUID)
    assert mac_for(UUID) != mac_for("another")
    assert mac_for(UUID).startswith("52:54:00:")


def test_guest_gets_host_entropy() -> None:
    rng = parse(config()).find("devices/rng")
    assert rng is not None and rng.get("model") == "virtio"
    assert rng.findtext("backend") == "/dev/urandom"
