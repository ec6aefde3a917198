"""Subnet arithmetic: cidr parsing, default gateway and allocation pools, pool checks.

Pure functions over :mod:`ipaddress`; the messages are Neutron's.
"""

from __future__ import annotations

import ipaddress
import itertools
from dataclasses import dataclass
from typing import Any

from stockyard.network.errors import Conflict, InvalidInput, NeutronError, invalid_attr

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Pool:
    """An inclusive range of addresses, as integers of one IP version."""

    first: int
    last: int
    version: int

    def render(self) -> dict[str, str]:
        return {
            "start": str(to_ip(self.first, self.version)),
            "end": str(to_ip(self.last, self.version)),
        }

    def __contains__(self, value: int) -> bool:
        return self.first <= value <= self.last


def to_ip(value: int, version: int) -> IPAddress:
    return ipaddress.IPv4Address(value) if version == 4 else ipaddress.IPv6Address(value)


def parse_cidr(cidr: Any) -> IPNetwork:
    """A subnet cidr; host bits must be zero (Neutron refuses ``10.0.0.1/24``)."""
    if not isinstance(cidr, str):
        raise invalid_attr("cidr", f"'{cidr}' is not a valid IP subnet")
    try:
        net = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        raise invalid_attr("cidr", f"'{cidr}' is not a valid IP subnet") from None
    if "/" not in cidr:
        raise invalid_attr("cidr", f"'{cidr}' is not a valid IP subnet")
    if net.network_address != ipaddress.ip_interface(cidr).ip:
        raise invalid_attr(
            "cidr", f"'{cidr}' isn't a recommended IP subnet, '{net}' is recommended"
        )
    return net


def parse_ip(value: Any, attr: str) -> IPAddress:
    if not isinstance(value, str):
        raise invalid_attr(attr, f"'{value}' is not a valid IP address")
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        raise invalid_attr(attr, f"'{value}' is not a valid IP address") from None


def usable_range(net: IPNetwork) -> tuple[int, int]:
    """First and last address a pool may hold: IPv4 skips network and broadcast, IPv6
    skips the subnet-router anycast address (the first)."""
    first, last = int(net.network_address), int(net.broadcast_address)
    if net.version == 4:
        if net.prefixlen >= 31:
            return first, last
        return first + 1, last - 1
    if net.prefixlen == 128:
        return first, last
    return first + 1, last


def default_gateway(net: IPNetwork) -> str | None:
    first, last = usable_range(net)
    return str(to_ip(first, net.version)) if first <= last else None


def default_pools(net: IPNetwork, gateway: str | None) -> list[Pool]:
    """The usable range minus the gateway, as Neutron's ``generate_pools``."""
    first, last = usable_range(net)
    if first > last:
        return []
    pools = [Pool(first, last, net.version)]
    if gateway is not None:
        gw = int(ipaddress.ip_address(gateway))
        pools = [
            part
            for pool in pools
            for part in (
                (Pool(pool.first, gw - 1, net.version), Pool(gw + 1, pool.last, net.version))
                if gw in pool
                else (pool,)
            )
            if part.first <= part.last
        ]
    return pools


def parse_pools(net: IPNetwork, raw: Any) -> list[Pool]:
    """User-given ``allocation_pools``: each inside the cidr, none overlapping."""
    if not isinstance(raw, list):
        raise invalid_attr("allocation_pools", f"Invalid data format for IP pool: '{raw}'")
    pools: list[Pool] = []
    first, last = usable_range(net)
    for item in raw:
        if not isinstance(item, dict) or set(item) != {"start", "end"}:
            raise invalid_attr("allocation_pools", f"Invalid data format for IP pool: '{item}'")
        start = parse_ip(item["start"], "allocation_pools")
        end = parse_ip(item["end"], "allocation_pools")
        if start.version != net.version or end.version != net.version or int(start) > int(end):
            raise BadPool(f"The allocation pool {start}-{end} is not valid.")
        pool = Pool(int(start), int(end), net.version)
        if pool.first < first or pool.last > last:
            raise BadPool(
                f"The allocation pool {start}-{end} spans beyond the subnet cidr {net}.",
                type="OutOfBoundsAllocationPool",
            )
        pools.append(pool)
    pools.sort(key=lambda p: p.first)
    for a, b in itertools.pairwise(pools):
        if b.first <= a.last:
            raise Conflict(
                f"Found overlapping allocation pools: {_fmt(a)} {_fmt(b)} for subnet {net}.",
                type="OverlappingAllocationPools",
            )
    return pools


def _fmt(pool: Pool) -> str:
    r = pool.render()
    return f"{r['start']}-{r['end']}"


class BadPool(NeutronError):
    status = 400
    type = "InvalidAllocationPool"


def check_gateway(net: IPNetwork, gateway: str | None, pools: list[Pool]) -> None:
    """The gateway must be a host of the cidr and outside every pool."""
    if gateway is None:
        return
    gw = parse_ip(gateway, "gateway_ip")
    if gw.version != net.version or gw not in net:
        raise InvalidInput("Gateway is not valid on subnet")
    if (
        net.version == 4
        and net.prefixlen < 31
        and gw in (net.network_address, net.broadcast_address)
    ):
        raise InvalidInput("Gateway is not valid on subnet")
    for pool in pools:
        if int(gw) in pool:
            raise Conflict(
                f"Gateway ip {gw} conflicts with allocation pool {_fmt(pool)}",
                type="GatewayConflictWithAllocationPools",
            )


def overlaps(a: IPNetwork, b: IPNetwork) -> bool:
    return a.version == b.version and a.overlaps(b)
