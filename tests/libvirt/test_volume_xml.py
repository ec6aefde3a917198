"""The ``<disk>`` of a volume for each connection type a volume backend returns, guest
device names, and a domain that boots from a volume (no hypervisor needed)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from stockyard.bus.contract import VolumeAttachmentSpec
from stockyard.compute.drivers.base import DriverError
from stockyard.compute.drivers.libvirt.domain import DomainConfig, build_domain_xml
from stockyard.compute.drivers.libvirt.volumes import (
    guest_disks,
    pick_target,
    volume_disk,
    volume_disks_in,
)
from tests.libvirt.conftest import make_spec

VID = "6f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f"


def _vol(kind: str, data: dict[str, object], **extra: object) -> VolumeAttachmentSpec:
    info = {"driver_volume_type": kind, "data": data}
    return VolumeAttachmentSpec.model_validate({"volume_id": VID, "connection_info": info, **extra})


def test_file_volume_is_a_file_disk_with_the_volume_id_as_serial() -> None:
    disk = volume_disk(
        _vol("file", {"path": "/srv/v.qcow2", "format": "qcow2"}), "vdb", virt_type="qemu"
    )
    assert disk.get("type") == "file"
    assert disk.find("driver").get("type") == "qcow2"  # type: ignore[union-attr]
    assert disk.find("source").get("file") == "/srv/v.qcow2"  # type: ignore[union-attr]
    assert disk.find("target").attrib == {"dev": "vdb", "bus": "virtio"}  # type: ignore[union-attr]
    assert disk.findtext("serial") == VID
    assert disk.find("readonly") is None


def test_lvm_volume_is_a_block_disk_and_read_only_is_kept() -> None:
    vol = _vol("local", {"device_path": "/dev/cinder/volume-x"}, read_only=True)
    disk = volume_disk(vol, "vdc", virt_type="kvm")
    assert disk.get("type") == "block"
    assert disk.find("source").get("dev") == "/dev/cinder/volume-x"  # type: ignore[union-attr]
    assert disk.find("driver").get("type") == "raw"  # type: ignore[union-attr]
    assert disk.find("readonly") is not None


def test_rbd_volume_is_a_network_disk_with_monitors_and_secret() -> None:
    data = {
        "name": "volumes/volume-x",
        "hosts": ["10.0.0.1", "10.0.0.2"],
        "ports": ["6789", "6789"],
        "auth_enabled": True,
        "auth_username": "cinder",
        "secret_type": "ceph",
        "secret_uuid": "457eb676-33da-42ec-9a8c-9293d545c337",
    }
    disk = volume_disk(_vol("rbd", data), "vdb", virt_type="kvm")
    source = disk.find("source")
    assert disk.get("type") == "network" and source is not None
    assert source.attrib == {"protocol": "rbd", "name": "volumes/volume-x"}
    assert [h.attrib for h in source.iterfind("host")] == [
        {"name": "10.0.0.1", "port": "6789"},
        {"name": "10.0.0.2", "port": "6789"},
    ]
    assert disk.find("auth").get("username") == "cinder"  # type: ignore[union-attr]
    assert disk.find("auth/secret").attrib == {  # type: ignore[union-attr]
        "type": "ceph",
        "uuid": "457eb676-33da-42ec-9a8c-9293d545c337",
    }


def test_unknown_connection_type_is_a_readable_error() -> None:
    with pytest.raises(DriverError, match=r"connection type 'iscsi' .* cannot be attached"):
        volume_disk(_vol("iscsi", {"target_iqn": "iqn.x"}), "vdb", virt_type="qemu")
    with pytest.raises(DriverError, match=r"connection type 'file' with data \[\]"):
        volume_disk(_vol("file", {}), "vdb", virt_type="qemu")


def test_guest_device_names() -> None:
    assert pick_target({"vda"}, "/dev/vdc") == "vdc"
    assert pick_target({"vda", "vdc"}, "/dev/vdc") == "vdb"
    assert pick_target({"vda", "vdb"}, "") == "vdc"
    assert pick_target({"vda"}, "/dev/sda") == "vdb"
    with pytest.raises(DriverError, match="no free virtio disk name"):
        pick_target({f"vd{c}" for c in "abcdefghijklmnopqrstuvwxyz"}, "")


def test_boot_from_volume_domain_boots_the_volume_first(tmp_path: Path) -> None:
    boot = _vol("file", {"path": "/srv/root.qcow2", "format": "qcow2"}, boot_index=0)
    data = _vol("local", {"device_path": "/dev/vg/data"}, device="/dev/vdb")
    data = data.model_copy(update={"volume_id": "data-volume"})
    spec = make_spec(image_ref="", volumes=[data.model_dump(), boot.model_dump()])
    root, others = guest_disks(spec, "qemu")
    assert root is not None
    xml = build_domain_xml(
        DomainConfig(
            instance_uuid=spec.uuid,
            display_name="bfv",
            vcpus=1,
            memory_mb=256,
            root_disk=None,
            root_volume=root,
            volume_disks=others,
            console_log=tmp_path / "console.log",
            ssh_port=2222,
        )
    )
    dom = ET.fromstring(xml)
    assert dom.find("os/boot") is None  # the disk's own <boot order> decides
    disks = volume_disks_in(xml)
    assert disks[VID].find("target").get("dev") == "vda"  # type: ignore[union-attr]
    assert disks[VID].find("boot").get("order") == "1"  # type: ignore[union-attr]
    assert disks["data-volume"].find("target").get("dev") == "vdb"  # type: ignore[union-attr]


def test_a_guest_needs_exactly_one_root(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        DomainConfig(
            instance_uuid="u",
            display_name="x",
            vcpus=1,
            memory_mb=256,
            root_disk=None,
            console_log=tmp_path / "c.log",
            ssh_port=2222,
        )
