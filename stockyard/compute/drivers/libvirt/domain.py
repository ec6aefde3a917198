"""Domain XML for one Stockyard guest, and reading back what Stockyard wrote into it.

The XML is built from a ``DomainConfig`` only (no libvirt calls), so it can be checked in
unit tests and fed to any libvirt driver, including ``test:///default``.

Networking modes:

- ``user`` (default, tests, laptops): QEMU user-mode networking with a TCP forward from
  ``127.0.0.1:<ssh_port>`` to the guest's port 22. libvirt's own ``<portForward>`` needs
  the passt backend, which Debian 12's libvirt 9.0 is built without, so the NIC is passed
  to QEMU with ``<qemu:commandline>`` (the domain is tagged "custom-argv" by libvirt). The
  forward binds to loopback only and dies with the QEMU process.
- ``network:<name>``: a NIC on a libvirt network; ``bridge:<name>``: on a host bridge.

The instance's Networking v2 ports come after that NIC: one ``<interface type='ethernet'>``
each, on the tap the datapath (``stockyard.compute.netdp``) made and filters, with the
port's MAC and MTU.
"""

from __future__ import annotations

import copy
import uuid as uuidlib
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

METADATA_NS = "https://stockyard.dev/xmlns/libvirt/instance/1.0"
METADATA_KEY = "stockyard"
QEMU_NS = "http://libvirt.org/schemas/domain/qemu/1.0"
DOMAIN_PREFIX = "stockyard-"
# A PCI slot libvirt does not hand out by itself on the i440fx ``pc`` machine, so a NIC
# given on the QEMU command line never collides with devices libvirt places.
USER_NIC_PCI_ADDR = "0x1f"
GUEST_SSH_PORT = 22

ET.register_namespace("qemu", QEMU_NS)
ET.register_namespace(METADATA_KEY, METADATA_NS)


def domain_name(instance_uuid: str) -> str:
    """The libvirt domain name of an instance."""
    return f"{DOMAIN_PREFIX}{instance_uuid}"


def mac_for(instance_uuid: str) -> str:
    """A stable locally administered MAC (QEMU's 52:54:00 prefix) derived from the uuid."""
    digest = uuidlib.uuid5(uuidlib.NAMESPACE_OID, instance_uuid).bytes
    return "52:54:00:" + ":".join(f"{b:02x}" for b in digest[:3])


@dataclass(frozen=True, slots=True)
class PortNic:
    """A port's NIC: the tap the datapath plugged, the port's MAC and MTU."""

    tap: str
    mac: str
    mtu: int = 1500


def port_interface(nic: PortNic) -> ET.Element:
    """The ``<interface>`` of a port: libvirt opens the existing tap (``managed='no'``)."""
    el = ET.Element("interface", type="ethernet")
    _sub(el, "mac", address=nic.mac.lower())
    _sub(el, "target", dev=nic.tap, managed="no")
    _sub(el, "model", type="virtio")
    _sub(el, "mtu", size=str(nic.mtu))
    return el


def port_interface_xml(nic: PortNic) -> str:
    """:func:`port_interface` as text (for hot-plug)."""
    return ET.tostring(port_interface(nic), encoding="unicode")


def port_taps(xml: str) -> list[str]:
    """Taps of the port NICs in a domain's XML (Stockyard's ``tap`` names)."""
    root = ET.fromstring(xml)
    taps = []
    for iface in root.iterfind("devices/interface[@type='ethernet']"):
        target = iface.find("target")
        if target is not None and target.get("dev", "").startswith("tap"):
            taps.append(target.get("dev", ""))
    return taps


def interface_of_tap(xml: str, tap: str) -> str | None:
    """The ``<interface>`` element (as text) on ``tap`` in a domain's XML, if any."""
    root = ET.fromstring(xml)
    for iface in root.iterfind("devices/interface"):
        target = iface.find("target")
        if target is not None and target.get("dev") == tap:
            return ET.tostring(iface, encoding="unicode")
    return None


@dataclass(slots=True)
class DomainConfig:
    """Everything the domain XML is made of."""

    instance_uuid: str
    display_name: str
    vcpus: int
    memory_mb: int
    root_disk: Path | None
    """The image overlay; None when the guest boots from a volume (``root_volume``)."""
    console_log: Path
    virt_type: str = "qemu"
    config_drive: Path | None = None
    network: str = "user"
    ssh_port: int | None = None
    kernel: Path | None = None
    ramdisk: Path | None = None
    kernel_cmdline: str = "console=ttyS0,115200"
    image_ref: str = ""
    extra_metadata: dict[str, str] = field(default_factory=dict)
    root_volume: ET.Element | None = None
    """The boot volume's ``<disk>`` (``volumes.guest_disks``), first in boot order."""
    volume_disks: list[ET.Element] = field(default_factory=list)
    """``<disk>`` elements of the other attached volumes."""
    ports: list[PortNic] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.vcpus < 1:
            raise ValueError("flavor vcpus must be at least 1")
        if self.memory_mb < 16:
            raise ValueError("flavor ram must be at least 16 MB")
        if (self.root_disk is None) == (self.root_volume is None):
            raise ValueError("a guest boots from exactly one of an image disk and a volume")
        if self.network == "user" and self.ssh_port is None:
            raise ValueError("user-mode networking needs an ssh_port to forward")


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, tag, attrs)
    if text is not None:
        el.text = text
    return el


def _metadata(cfg: DomainConfig) -> ET.Element:
    inst = ET.Element(f"{{{METADATA_NS}}}instance")
    values = {
        "uuid": cfg.instance_uuid,
        "name": cfg.display_name,
        "image": cfg.image_ref,
        "network": cfg.network,
        "ssh_port": "" if cfg.ssh_port is None else str(cfg.ssh_port),
    }
    for key, value in {**values, **cfg.extra_metadata}.items():
        _sub(inst, f"{{{METADATA_NS}}}{key}", value)
    return inst


def build_domain_xml(cfg: DomainConfig) -> str:
    """The domain XML of ``cfg`` (a persistent definition, started separately)."""
    dom = ET.Element("domain", type=cfg.virt_type)
    _sub(dom, "name", domain_name(cfg.instance_uuid))
    try:
        _sub(dom, "uuid", str(uuidlib.UUID(cfg.instance_uuid)))
    except ValueError:
        pass  # not a UUID: libvirt generates one, lookups go by name
    _sub(dom, "title", cfg.display_name)
    meta = _sub(dom, "metadata")
    meta.append(_metadata(cfg))
    _sub(dom, "memory", str(cfg.memory_mb), unit="MiB")
    _sub(dom, "vcpu", str(cfg.vcpus))

    os_el = _sub(dom, "os")
    _sub(os_el, "type", "hvm", arch="x86_64", machine="pc")
    if cfg.kernel is not None:
        _sub(os_el, "kernel", str(cfg.kernel))
        if cfg.ramdisk is not None:
            _sub(os_el, "initrd", str(cfg.ramdisk))
        _sub(os_el, "cmdline", cfg.kernel_cmdline)
    elif cfg.root_volume is None:
        _sub(os_el, "boot", dev="hd")  # a boot volume names its own <boot order>
    features = _sub(dom, "features")
    _sub(features, "acpi")
    _sub(features, "apic")
    if cfg.virt_type == "kvm":
        _sub(dom, "cpu", mode="host-passthrough")
    _sub(dom, "clock", offset="utc")
    _sub(dom, "on_poweroff", "destroy")
    _sub(dom, "on_reboot", "restart")
    _sub(dom, "on_crash", "destroy")

    dev = _sub(dom, "devices")
    if cfg.root_disk is not None:
        disk = _sub(dev, "disk", type="file", device="disk")
        _sub(
            disk,
            "driver",
            name="qemu",
            type="qcow2",
            cache="none" if cfg.virt_type == "kvm" else "writeback",
        )
        _sub(disk, "source", file=str(cfg.root_disk))
        _sub(disk, "target", dev="vda", bus="virtio")
    elif cfg.root_volume is not None:
        dev.append(copy.deepcopy(cfg.root_volume))
    dev.extend(copy.deepcopy(d) for d in cfg.volume_disks)
    if cfg.config_drive is not None:
        cd = _sub(dev, "disk", type="file", device="cdrom")
        _sub(cd, "driver", name="qemu", type="raw")
        _sub(cd, "source", file=str(cfg.config_drive))
        _sub(cd, "target", dev="hdc", bus="ide")
        _sub(cd, "readonly")
    kind, _, target = cfg.network.partition(":")
    if kind in {"network", "bridge"} and target:
        nic = _sub(dev, "interface", type=kind)
        _sub(nic, "mac", address=mac_for(cfg.instance_uuid))
        _sub(nic, "source", **{kind: target})
        _sub(nic, "model", type="virtio")
    elif kind != "user":
        raise ValueError(f"unknown network {cfg.network!r}: use user, network:NAME or bridge:NAME")
    for port in cfg.ports:
        dev.append(port_interface(port))
    serial = _sub(dev, "serial", type="file")
    _sub(serial, "source", path=str(cfg.console_log), append="on")
    _sub(serial, "target", port="0")
    # Entropy from the host: without it a small guest waits for its RNG before sshd keys.
    rng = _sub(dev, "rng", model="virtio")
    _sub(rng, "backend", "/dev/urandom", model="random")
    _sub(dev, "memballoon", model="virtio")

    if kind == "user":
        cmd = ET.SubElement(dom, f"{{{QEMU_NS}}}commandline")
        netdev = f"user,id=synet0,hostfwd=tcp:127.0.0.1:{cfg.ssh_port}-:{GUEST_SSH_PORT}"
        device = (
            f"virtio-net-pci,netdev=synet0,bus=pci.0,addr={USER_NIC_PCI_ADDR},"
            f"mac={mac_for(cfg.instance_uuid)}"
        )
        for arg in ("-netdev", netdev, "-device", device):
            ET.SubElement(cmd, f"{{{QEMU_NS}}}arg", value=arg)

    ET.indent(dom)
    return ET.tostring(dom, encoding="unicode")


def read_metadata(xml: str) -> dict[str, str]:
    """Stockyard's metadata element of a domain (``{}`` when there is none).

    Accepts the whole domain XML or just the element libvirt's ``metadata()`` returns
    (which comes back without its namespace).
    """
    root = ET.fromstring(xml)
    if root.tag == "domain":
        found = root.find(f"metadata/{{{METADATA_NS}}}instance")
        if found is None:
            return {}
        root = found
    return {child.tag.rpartition("}")[2]: (child.text or "") for child in root}
