"""The libvirt driver's Networking v2 ports: plug at spawn, hot-plug, rules, unplug.

The datapath (:mod:`stockyard.compute.netdp`) makes the bridge, the tap and the rules;
this mixin hands the tap to the domain and takes it back. What a domain carries is read
back from its XML (``<target dev='tap...'>``), so a destroy after a crash, or of ports
Networking has deleted already, still finds every tap to remove.
"""

from __future__ import annotations

from typing import Any

import libvirt

from stockyard.compute.drivers.base import InstanceSpec, PortSpec
from stockyard.compute.drivers.libvirt.connection import LibvirtConnection
from stockyard.compute.drivers.libvirt.domain import (
    PortNic,
    interface_of_tap,
    port_interface_xml,
    port_taps,
)
from stockyard.compute.netdp import Datapath, tap_name


def port_nic(port: PortSpec) -> PortNic:
    """The NIC of ``port`` in the domain."""
    return PortNic(tap=tap_name(port.id), mac=port.mac_address, mtu=port.mtu)


def _device_flags(dom: Any) -> int:
    flags = int(libvirt.VIR_DOMAIN_AFFECT_CONFIG)
    if dom.isActive():
        flags |= int(libvirt.VIR_DOMAIN_AFFECT_LIVE)
    return flags


class PortsMixin(LibvirtConnection):
    """Port verbs of :class:`~stockyard.compute.drivers.libvirt.driver.LibvirtDriver`."""

    datapath: Datapath

    async def _plug_ports(self, instance: InstanceSpec) -> list[PortNic]:
        """Plug every port of ``instance`` (idempotent); their NICs, in order."""
        for port in instance.ports:
            await self.datapath.plug(port)
        return [port_nic(port) for port in instance.ports]

    async def _unplug_all(self, instance: InstanceSpec, domain_xml: str | None) -> None:
        """Remove the taps of the domain's XML and of ``instance.ports``."""
        taps = port_taps(domain_xml) if domain_xml else []
        for port in instance.ports:
            await self.datapath.unplug(port.id, port.network_id)
        for tap in taps:
            await self.datapath.unplug_tap(tap)

    def _xml_of(self, instance_uuid: str) -> str | None:
        dom = self._lookup(instance_uuid)
        return None if dom is None else str(dom.XMLDesc(0))

    async def attach_interface(self, instance: InstanceSpec, port: PortSpec) -> None:
        dom = await self._domain(instance)
        await self.datapath.plug(port)
        nic = port_nic(port)

        def attach() -> None:
            if interface_of_tap(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE), nic.tap):
                return  # attached already: a resent op
            dom.attachDeviceFlags(port_interface_xml(nic), _device_flags(dom))

        await self._run(attach)

    async def detach_interface(self, instance: InstanceSpec, port_id: str) -> None:
        tap = tap_name(port_id)
        dom = await self._run(self._lookup, instance.uuid)
        if dom is not None:

            def detach() -> None:
                for flags, live in ((0, True), (libvirt.VIR_DOMAIN_XML_INACTIVE, False)):
                    element = interface_of_tap(dom.XMLDesc(flags), tap)
                    if element is None or (live and not dom.isActive()):
                        continue
                    affect = (
                        libvirt.VIR_DOMAIN_AFFECT_LIVE if live else libvirt.VIR_DOMAIN_AFFECT_CONFIG
                    )
                    dom.detachDeviceFlags(element, affect)

            await self._run(detach)
        # The tap goes whatever the guest does with the unplug request: no frame passes.
        network = next((p.network_id for p in instance.ports if p.id == port_id), None)
        await self.datapath.unplug(port_id, network)

    async def update_ports(self, instance: InstanceSpec) -> None:
        for port in instance.ports:
            await self.datapath.apply(port)
