"""Resources rendered as Neutron shows them; admin-only attributes only to admins."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from stockyard.db.models import Network, Port, SecurityGroup, SecurityGroupRule, Subnet
from stockyard.identity.context import RequestContext


def ts(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _standard(row: Network | Subnet | Port | SecurityGroup | SecurityGroupRule) -> dict[str, Any]:
    return {
        "created_at": ts(row.created_at),
        "updated_at": ts(row.updated_at),
        "revision_number": row.revision_number,
        "project_id": row.project_id,
        "tenant_id": row.project_id,
    }


def network(ctx: RequestContext, net: Network, subnet_ids: list[str]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": net.id,
        "name": net.name,
        "description": net.description,
        "admin_state_up": net.admin_state_up,
        "status": net.status,
        "subnets": subnet_ids,
        "shared": net.shared,
        "router:external": net.router_external,
        "mtu": net.mtu,
        "port_security_enabled": net.port_security_enabled,
        "availability_zone_hints": list(net.availability_zone_hints),
        "availability_zones": list(net.availability_zone_hints),
        **_standard(net),
    }
    if ctx.is_admin:
        body["provider:network_type"] = net.network_type
        body["provider:physical_network"] = net.physical_network
        body["provider:segmentation_id"] = net.segmentation_id
    return body


def subnet(sub: Subnet) -> dict[str, Any]:
    return {
        "id": sub.id,
        "name": sub.name,
        "description": sub.description,
        "network_id": sub.network_id,
        "ip_version": sub.ip_version,
        "cidr": sub.cidr,
        "gateway_ip": sub.gateway_ip,
        "enable_dhcp": sub.enable_dhcp,
        "allocation_pools": list(sub.allocation_pools),
        "dns_nameservers": list(sub.dns_nameservers),
        "host_routes": list(sub.host_routes),
        "ipv6_ra_mode": sub.ipv6_ra_mode,
        "ipv6_address_mode": sub.ipv6_address_mode,
        "subnetpool_id": None,
        "service_types": [],
        **_standard(sub),
    }


def port(
    ctx: RequestContext, row: Port, fixed_ips: list[dict[str, str]], groups: list[str]
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": row.id,
        "name": row.name,
        "description": row.description,
        "network_id": row.network_id,
        "mac_address": row.mac_address,
        "admin_state_up": row.admin_state_up,
        "status": row.status,
        "device_id": row.device_id,
        "device_owner": row.device_owner,
        "fixed_ips": fixed_ips,
        "security_groups": groups,
        "port_security_enabled": row.port_security_enabled,
        "binding:vnic_type": row.binding_vnic_type,
        **_standard(row),
    }
    if ctx.is_admin:
        bound = bool(row.binding_host_id)
        body["binding:host_id"] = row.binding_host_id
        body["binding:profile"] = dict(row.binding_profile)
        # Stockyard's datapath is a Linux bridge per network with a tap per port.
        body["binding:vif_type"] = "bridge" if bound else "unbound"
        body["binding:vif_details"] = {"port_filter": True, "connectivity": "l2"} if bound else {}
    return body


def rule(row: SecurityGroupRule) -> dict[str, Any]:
    return {
        "id": row.id,
        "security_group_id": row.security_group_id,
        "direction": row.direction,
        "ethertype": row.ethertype,
        "protocol": row.protocol,
        "port_range_min": row.port_range_min,
        "port_range_max": row.port_range_max,
        "remote_ip_prefix": row.remote_ip_prefix,
        "remote_group_id": row.remote_group_id,
        "description": row.description,
        **_standard(row),
    }


def security_group(group: SecurityGroup, rules: list[SecurityGroupRule]) -> dict[str, Any]:
    return {
        "id": group.id,
        "name": group.name,
        "description": group.description,
        "security_group_rules": [rule(r) for r in rules],
        **_standard(group),
    }
