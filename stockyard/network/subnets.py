"""Subnets: cidr, gateway and allocation pools, DNS and host routes, overlap checks."""

from __future__ import annotations

import ipaddress
from typing import Any

from sqlalchemy import ColumnElement, delete, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.db.models import IPAllocation, Network, Subnet
from stockyard.identity.context import RequestContext
from stockyard.network import networks, quota
from stockyard.network.addressing import (
    IPNetwork,
    Pool,
    check_gateway,
    default_gateway,
    default_pools,
    overlaps,
    parse_cidr,
    parse_ip,
    parse_pools,
)
from stockyard.network.errors import (
    BadRequest,
    InvalidInput,
    PolicyNotAuthorized,
    delete_or_not_found,
    invalid_attr,
    not_found,
    subnet_in_use,
)
from stockyard.network.ipam import is_slaac

MAX_DNS = 5
MAX_ROUTES = 20
IPV6_MODES = ("slaac", "dhcpv6-stateful", "dhcpv6-stateless")


def visible(ctx: RequestContext) -> ColumnElement[bool]:
    """Members see their project's subnets and those of shared networks."""
    if ctx.is_admin:
        return true()
    shared = select(Network.id).where(Network.shared.is_(True))
    return or_(Subnet.project_id == ctx.project_id, Subnet.network_id.in_(shared))


async def get(session: AsyncSession, ctx: RequestContext, subnet_id: str) -> Subnet:
    subnet = await session.scalar(select(Subnet).where(Subnet.id == subnet_id, visible(ctx)))
    if subnet is None:
        raise not_found("Subnet", subnet_id)
    return subnet


def _dns(net: IPNetwork, raw: Any) -> list[str]:
    if not isinstance(raw, list):
        raise invalid_attr("dns_nameservers", f"'{raw}' is not a list")
    if len(raw) > MAX_DNS:
        raise BadRequest(
            f"Unable to complete operation for {net}. The number of DNS nameservers "
            f"exceeds the limit {MAX_DNS}.",
            type="DNSNameServersExhausted",
        )
    seen: list[str] = []
    for item in raw:
        parse_ip(item, "dns_nameservers")
        if item in seen:
            raise invalid_attr("dns_nameservers", f"Duplicate nameserver '{item}'")
        seen.append(item)
    return seen


def _routes(net: IPNetwork, raw: Any) -> list[dict[str, str]]:
    if not isinstance(raw, list):
        raise invalid_attr("host_routes", f"'{raw}' is not a list")
    if len(raw) > MAX_ROUTES:
        raise BadRequest(
            f"Unable to complete operation for {net}. The number of host routes exceeds "
            f"the limit {MAX_ROUTES}.",
            type="HostRoutesExhausted",
        )
    out: list[dict[str, str]] = []
    for item in raw:
        if not isinstance(item, dict) or set(item) != {"destination", "nexthop"}:
            raise invalid_attr("host_routes", f"Invalid data format for hostroute: '{item}'")
        try:
            dest = ipaddress.ip_network(str(item["destination"]), strict=False)
        except ValueError:
            raise invalid_attr(
                "host_routes", f"'{item['destination']}' is not a valid IP subnet"
            ) from None
        hop = parse_ip(item["nexthop"], "host_routes")
        if dest.version != net.version or hop.version != net.version:
            raise InvalidInput(f"Invalid route {item} for IP version {net.version}")
        route = {"destination": str(dest), "nexthop": str(hop)}
        if route in out:
            raise invalid_attr("host_routes", f"Duplicate hostroute '{item}'")
        out.append(route)
    return out


def _v6_modes(version: int, attrs: dict[str, Any]) -> tuple[str | None, str | None]:
    ra, address = attrs.get("ipv6_ra_mode"), attrs.get("ipv6_address_mode")
    for attr, value in (("ipv6_ra_mode", ra), ("ipv6_address_mode", address)):
        if value is not None and value not in IPV6_MODES:
            raise invalid_attr(attr, f"'{value}' is not in {list(IPV6_MODES)}")
        if value is not None and version == 4:
            raise InvalidInput(f"{attr} set to '{value}' with ip_version 4 is not valid")
    if ra is not None and address is not None and ra != address:
        raise InvalidInput(
            f"ipv6_ra_mode set to '{ra}' with ipv6_address_mode set to '{address}' is not "
            "valid. If both attributes are set, they must be the same value"
        )
    return ra, address


def _pools(net: IPNetwork, attrs: dict[str, Any], gateway: str | None) -> list[Pool]:
    if attrs.get("allocation_pools") is None:
        return default_pools(net, gateway)
    return parse_pools(net, attrs["allocation_pools"])


async def create(
    session: AsyncSession, ctx: RequestContext, project_id: str, attrs: dict[str, Any]
) -> Subnet:
    network = await networks.get(session, ctx, str(attrs["network_id"]))
    if not networks.owns(ctx, network):
        raise PolicyNotAuthorized("create_subnet")
    version = attrs.get("ip_version")
    if version not in (4, 6) or isinstance(version, bool):
        raise invalid_attr("ip_version", f"{version} is not in [4, 6]")
    if attrs.get("cidr") is None:
        raise BadRequest("A cidr must be specified in the absence of a subnet pool")
    net = parse_cidr(attrs["cidr"])
    if net.version != version:
        raise InvalidInput(f"cidr '{attrs['cidr']}' does not match the ip_version '{version}'")
    gateway = attrs["gateway_ip"] if "gateway_ip" in attrs else default_gateway(net)
    pools = _pools(net, attrs, gateway)
    check_gateway(net, gateway, pools)
    ra, address = _v6_modes(version, attrs)
    dns = _dns(net, attrs.get("dns_nameservers") or [])
    routes = _routes(net, attrs.get("host_routes") or [])
    # Lock the network row: two subnets created at once must still see each other.
    await session.execute(select(Network.id).where(Network.id == network.id).with_for_update())
    await quota.check(session, project_id, "subnet")
    existing = await session.scalars(select(Subnet.cidr).where(Subnet.network_id == network.id))
    for other in existing:
        if overlaps(net, ipaddress.ip_network(other)):
            raise InvalidInput(
                f"Requested subnet with cidr: {net} for network: {network.id} overlaps with "
                "another subnet"
            )
    subnet = Subnet(
        network_id=network.id,
        project_id=project_id,
        name=attrs.get("name", ""),
        description=attrs.get("description", ""),
        ip_version=version,
        cidr=str(net),
        gateway_ip=None if gateway is None else str(ipaddress.ip_address(gateway)),
        enable_dhcp=attrs.get("enable_dhcp", True),
        allocation_pools=[p.render() for p in pools],
        dns_nameservers=dns,
        host_routes=routes,
        ipv6_ra_mode=ra,
        ipv6_address_mode=address,
    )
    session.add(subnet)
    network.revision_number += 1
    await session.flush()
    return subnet


async def update(
    session: AsyncSession, ctx: RequestContext, subnet_id: str, changes: dict[str, Any]
) -> Subnet:
    subnet = await get(session, ctx, subnet_id)
    if not (ctx.is_admin or subnet.project_id == ctx.project_id):
        raise PolicyNotAuthorized("update_subnet")
    net = ipaddress.ip_network(subnet.cidr)
    gateway = changes.get("gateway_ip", subnet.gateway_ip)
    if "allocation_pools" in changes and changes["allocation_pools"] is not None:
        pools = parse_pools(net, changes["allocation_pools"])
        subnet.allocation_pools = [p.render() for p in pools]
    else:
        pools = [
            Pool(
                int(ipaddress.ip_address(p["start"])),
                int(ipaddress.ip_address(p["end"])),
                net.version,
            )
            for p in subnet.allocation_pools
        ]
    check_gateway(net, gateway, pools)
    subnet.gateway_ip = gateway
    if "dns_nameservers" in changes:
        subnet.dns_nameservers = _dns(net, changes["dns_nameservers"] or [])
    if "host_routes" in changes:
        subnet.host_routes = _routes(net, changes["host_routes"] or [])
    for key in ("name", "description", "enable_dhcp"):
        if key in changes:
            setattr(subnet, key, changes[key])
    subnet.revision_number += 1
    await session.flush()
    return subnet


async def remove(session: AsyncSession, ctx: RequestContext, subnet_id: str) -> None:
    subnet = await get(session, ctx, subnet_id)
    if not (ctx.is_admin or subnet.project_id == ctx.project_id):
        raise PolicyNotAuthorized("delete_subnet")
    if is_slaac(subnet):
        # Guests configure these addresses themselves: Neutron takes them off the ports.
        await session.execute(delete(IPAllocation).where(IPAllocation.subnet_id == subnet.id))
    used = await session.scalar(
        select(func.count()).select_from(IPAllocation).where(IPAllocation.subnet_id == subnet.id)
    )
    if used:
        raise subnet_in_use(subnet.id)
    network = await session.get(Network, subnet.network_id)
    if network is not None:
        network.revision_number += 1
    await delete_or_not_found(session, subnet, "Subnet")


async def of_network(session: AsyncSession, network_id: str) -> list[Subnet]:
    rows = await session.scalars(
        select(Subnet).where(Subnet.network_id == network_id).order_by(Subnet.created_at, Subnet.id)
    )
    return list(rows)
