"""``openstack/latest/network_data.json`` of a guest, in Nova's format.

``links`` (one per port: the tap's name as id, MAC, MTU), ``networks`` (one per fixed IP,
static: this host serves no DHCP, so the address is written out even on a subnet with
``enable_dhcp``), ``services`` (the subnets' DNS servers). A guest's cloud-init (or the
tiny image's init) configures its NICs from it by MAC.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from stockyard.bus.contract import PortSpec
from stockyard.compute.netdp.names import tap_name


def _route(destination: str, gateway: str) -> dict[str, str]:
    net = ipaddress.ip_network(destination, strict=False)
    return {"network": str(net.network_address), "netmask": str(net.netmask), "gateway": gateway}


def network_data(ports: list[PortSpec]) -> dict[str, Any]:
    """The ``network_data.json`` document for ``ports`` (in interface order)."""
    links: list[dict[str, Any]] = []
    networks: list[dict[str, Any]] = []
    services: list[dict[str, str]] = []
    for port in ports:
        link = tap_name(port.id)
        links.append(
            {
                "id": link,
                "vif_id": port.id,
                "type": "tap",
                "mtu": port.mtu,
                "ethernet_mac_address": port.mac_address.lower(),
            }
        )
        for fixed in port.fixed_ips:
            subnet = ipaddress.ip_network(fixed.cidr, strict=False)
            routes = []
            if fixed.gateway_ip:
                default = "0.0.0.0/0" if subnet.version == 4 else "::/0"
                routes.append(_route(default, fixed.gateway_ip))
            routes += [_route(r["destination"], r["nexthop"]) for r in fixed.host_routes]
            dns = [{"type": "dns", "address": a} for a in fixed.dns_nameservers]
            networks.append(
                {
                    "id": f"network{len(networks)}",
                    "type": "ipv4" if subnet.version == 4 else "ipv6",
                    "link": link,
                    "ip_address": fixed.ip_address,
                    "netmask": str(subnet.netmask),
                    "routes": routes,
                    "network_id": port.network_id,
                    "services": dns,
                }
            )
            services += [s for s in dns if s not in services]
    return {"links": links, "networks": networks, "services": services}
