"""The libvirt compute driver: one hypervisor reached at a libvirt URI.

Its roles, one module each: ``connection`` (calls in threads, errors mapped, domain
helpers), ``ports`` (Networking ports), ``power`` (power verbs and states) and this module
(building, rebuilding and destroying guests, volumes, what the agent reads back).

Guests are persistent domains named ``stockyard-<uuid>`` whose metadata element
(namespace ``METADATA_NS``) holds the instance uuid, image and the loopback ssh port.
Files live under ``<data_dir>/libvirt`` (see ``storage``).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from stockyard.compute.drivers.base import (
    ComputeDriver,
    DriverError,
    HostResources,
    InstanceSpec,
    VolumeAttachmentSpec,
)
from stockyard.compute.drivers.libvirt.configdrive import build_config_drive
from stockyard.compute.drivers.libvirt.domain import (
    DomainConfig,
    build_domain_xml,
    mac_for,
)
from stockyard.compute.drivers.libvirt.host import (
    choose_virt_type,
    disk_total_gb,
    free_loopback_port,
)
from stockyard.compute.drivers.libvirt.ports import PortsMixin
from stockyard.compute.drivers.libvirt.power import PowerMixin
from stockyard.compute.drivers.libvirt.storage import (
    DiskManager,
    ImageResolver,
    LocalImageResolver,
)
from stockyard.compute.drivers.libvirt.volumes import GuestVolumes, guest_disks
from stockyard.compute.netdp import Datapath

# QEMU user networking always leases this address to the first guest NIC.
USER_GUEST_ADDRESS = "10.0.2.15"
USER_NETWORK_NAME = "user"


class LibvirtDriver(PowerMixin, PortsMixin, ComputeDriver):
    """Guests of the hypervisor at ``uri``, with disks under ``<data_dir>/libvirt``.

    ``network``: ``user`` (QEMU user networking, ssh forwarded from a 127.0.0.1 port),
    ``network:<libvirt network>`` or ``bridge:<host bridge>``. ``virt_type``: ``auto``
    (KVM when the host validates, else TCG), ``kvm`` or ``qemu``. The instance's ports
    are NICs after that one, on taps of ``datapath`` (see ``ports``).
    """

    name = "libvirt"

    def __init__(
        self,
        host: str = "localhost",
        *,
        uri: str = "qemu:///system",
        data_dir: Path | str = Path("./data"),
        network: str = "user",
        virt_type: str = "auto",
        image_resolver: ImageResolver | None = None,
        shutdown_timeout: float = 30.0,
        datapath: Datapath | None = None,
    ) -> None:
        super().__init__(host, uri)
        data = Path(data_dir).resolve()
        self.network = network
        self.virt_type = choose_virt_type(virt_type)
        self.shutdown_timeout = shutdown_timeout
        self.disks = DiskManager(data / "libvirt")
        self.resolve_image: ImageResolver = image_resolver or LocalImageResolver(data / "images")
        self.datapath = datapath or Datapath(host)
        self.volumes = GuestVolumes(self._run, host, self.virt_type)

    # -- building a guest --------------------------------------------------------------

    async def _prepare(self, instance: InstanceSpec, ssh_port: int | None) -> str:
        """Fresh root disk and config drive for ``instance``; the domain XML."""
        flavor = instance.flavor
        try:
            vcpus = int(flavor.get("vcpus") or 1)
            ram = int(flavor.get("ram") or 512)
            disk_gb = int(flavor.get("disk") or 0)
        except (TypeError, ValueError) as exc:
            raise DriverError(f"Flavor of instance {instance.uuid} is malformed: {exc}") from exc
        root_volume, volume_disks = guest_disks(instance, self.virt_type)
        if root_volume is None and not instance.image_ref:
            raise DriverError(f"Instance {instance.uuid} has no image to boot from.")
        if self.uri.startswith("qemu") and self.uri.endswith("/system"):
            await self.disks.check_reachable()
        idir = await self.disks.ensure_instance_dir(instance.uuid)
        root = kernel = ramdisk = None
        if root_volume is None:  # booted from a volume: no image disk, kernel or ramdisk
            source = await self.resolve_image(instance.image_ref)
            base = await self.disks.cached_base(source.path)
            root = await self.disks.create_overlay(base, idir / "disk.qcow2", disk_gb)
            kernel = await self.disks.cached_base(source.kernel) if source.kernel else None
            ramdisk = await self.disks.cached_base(source.ramdisk) if source.ramdisk else None
        config_drive = await build_config_drive(instance, idir / "config.iso")
        nics = await self._plug_ports(instance)
        if self.network == "user" and ssh_port is None:
            used = await self._run(self._used_ports)
            ssh_port = free_loopback_port(used)
        try:
            cfg = DomainConfig(
                instance_uuid=instance.uuid,
                display_name=instance.display_name,
                vcpus=vcpus,
                memory_mb=ram,
                root_disk=root,
                console_log=idir / "console.log",
                virt_type=self.virt_type,
                config_drive=config_drive,
                network=self.network,
                ssh_port=ssh_port if self.network == "user" else None,
                kernel=kernel,
                ramdisk=ramdisk,
                image_ref=instance.image_ref,
                root_volume=root_volume,
                volume_disks=volume_disks,
                ports=nics,
            )
        except ValueError as exc:
            raise DriverError(f"Cannot build instance {instance.uuid}: {exc}") from exc
        return build_domain_xml(cfg)

    async def _cleanup(self, instance: InstanceSpec) -> None:
        try:
            xml = await self._run(self._xml_of, instance.uuid)
            await self._run(self._undefine_if_exists, instance.uuid)
            await self._unplug_all(instance, xml)
        finally:
            await self.disks.remove_instance_dir(instance.uuid)

    # -- the contract ------------------------------------------------------------------

    async def spawn(self, instance: InstanceSpec) -> None:
        dom = await self._run(self._lookup, instance.uuid)
        if dom is not None:
            await self._plug_ports(instance)  # a host restart took the taps
            await self._run(self._start, dom)
            return
        try:
            xml = await self._prepare(instance, ssh_port=None)
            dom = await self._run(self._define, xml)
            await self._run(self._start, dom)
        except BaseException:
            # Leave no debris, so a reschedule to another host starts clean.
            await asyncio.shield(self._cleanup(instance))
            raise

    async def destroy(self, instance: InstanceSpec) -> None:
        await self._cleanup(instance)

    async def rebuild(self, instance: InstanceSpec, *, stopped: bool = False) -> None:
        dom = await self._run(self._lookup, instance.uuid)
        port: int | None = None
        if dom is not None:
            saved = await self._run(self._metadata_of, dom)
            port = int(saved["ssh_port"]) if saved.get("ssh_port", "").isdigit() else None
            await self._run(self._undefine, dom)
        xml = await self._prepare(instance, ssh_port=port)
        dom = await self._run(self._define, xml)
        if not stopped:
            await self._run(self._start, dom)

    async def attach_volume(self, instance: InstanceSpec, volume: VolumeAttachmentSpec) -> None:
        await self.volumes.attach(await self._domain(instance), volume)

    async def detach_volume(
        self, instance: InstanceSpec, volume: VolumeAttachmentSpec, wait_s: float
    ) -> None:
        dom = await self._run(self._lookup, instance.uuid)
        if dom is not None:  # a guest that is gone holds no volume
            await self.volumes.detach(dom, instance, volume, wait_s)

    async def cache_image(self, image_id: str) -> bool:
        # The same base-image cache spawn uses: a later spawn from this image only makes
        # its overlay. Kernel and ramdisk of an AMI-style image are cached with it.
        source = await self.resolve_image(image_id)
        fetched = False
        for path in (source.path, source.kernel, source.ramdisk):
            if path is not None:
                _base, new = await self.disks.fetch_base(path)
                fetched = fetched or new
        return fetched

    async def get_resources(self) -> HostResources:
        def resources() -> HostResources:
            conn = self._connection()
            info = conn.getInfo()
            return HostResources(
                vcpus=int(info[2]),
                memory_mb=int(info[1]),
                local_gb=disk_total_gb(self.disks.state_dir),
                hypervisor_type="QEMU",
                hypervisor_version=int(conn.getVersion()),
            )

        return await self._run(resources)

    async def get_instance_metadata(self, instance: InstanceSpec) -> dict[str, str]:
        """Server metadata the conductor should publish: ``ssh_endpoint`` in user mode."""
        dom = await self._domain(instance)
        saved = await self._run(self._metadata_of, dom)
        port = saved.get("ssh_port", "")
        return {"ssh_endpoint": f"127.0.0.1:{port}"} if port.isdigit() else {}

    async def get_addresses(self, instance: InstanceSpec) -> dict[str, list[dict[str, Any]]]:
        """Nova's ``addresses`` for the guest's NIC (known ahead in user mode only)."""
        dom = await self._domain(instance)
        saved = await self._run(self._metadata_of, dom)
        if saved.get("network", self.network) != "user":
            return {}
        nic = {
            "addr": USER_GUEST_ADDRESS,
            "version": 4,
            "OS-EXT-IPS:type": "fixed",
            "OS-EXT-IPS-MAC:mac_addr": mac_for(instance.uuid),
        }
        return {USER_NETWORK_NAME: [nic]}

    async def get_console_output(self, instance: InstanceSpec, length: int | None) -> str:
        path = self.disks.instance_dir(instance.uuid) / "console.log"

        def read() -> str | None:
            try:
                return path.read_bytes().decode(errors="replace")
            except FileNotFoundError:
                return None

        text = await asyncio.to_thread(read)
        if text is None:
            await self._domain(instance)  # unknown guest -> InstanceNotFound
            return ""
        lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        if length is not None:
            lines = lines[-length:] if length > 0 else []
        return "\n".join(lines)


__all__ = ["LibvirtDriver"]
