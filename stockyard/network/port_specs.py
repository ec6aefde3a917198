"""What an agent needs of a server's ports: ``contract.PortSpec`` with the fixed IPs'
subnets and the security rules resolved (remote groups to their members' addresses),
and Nova's ``addresses`` view of the same ports."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.bus import contract
from stockyard.db.models import (
    IPAllocation,
    Network,
    Port,
    PortSecurityGroup,
    SecurityGroupRule,
    Subnet,
)
from stockyard.network import ipam


async def _member_ips(
    session: AsyncSession, group_ids: set[str]
) -> dict[tuple[str, int], list[str]]:
    """Fixed IPs of every port in each group (the remote-group rules' peers), by
    (group, IP version): resolved once per call, not once per rule of every port."""
    out: dict[tuple[str, int], list[str]] = {}
    for gid in group_ids:
        out[gid, 4] = []
        out[gid, 6] = []
    if not group_ids:
        return out
    rows = await session.execute(
        select(PortSecurityGroup.security_group_id, IPAllocation.ip_address)
        .join(IPAllocation, IPAllocation.port_id == PortSecurityGroup.port_id)
        .where(PortSecurityGroup.security_group_id.in_(group_ids))
        .order_by(IPAllocation.id)
    )
    for gid, ip in rows:
        # Stored addresses are canonical: only IPv6 text has a colon.
        out[gid, 6 if ":" in ip else 4].append(ip)
    return out


def _rule_spec(
    rule: SecurityGroupRule, members: dict[tuple[str, int], list[str]]
) -> contract.SecurityRuleSpec:
    remote: list[str] | None = None
    if rule.remote_group_id is not None:
        version = 4 if rule.ethertype == "IPv4" else 6
        remote = list(members.get((rule.remote_group_id, version), ()))
    elif rule.remote_ip_prefix is not None:
        remote = [rule.remote_ip_prefix]
    return contract.SecurityRuleSpec(
        direction="ingress" if rule.direction == "ingress" else "egress",
        ethertype="IPv6" if rule.ethertype == "IPv6" else "IPv4",
        protocol=rule.protocol,
        port_range_min=rule.port_range_min,
        port_range_max=rule.port_range_max,
        remote_ips=remote,
    )


async def port_specs(session: AsyncSession, ports: Sequence[Port]) -> list[contract.PortSpec]:
    """The ports (in the given order) as the datapath plugs them."""
    ids = [p.id for p in ports]
    if not ids:
        return []
    nets = {
        n.id: n
        for n in await session.scalars(
            select(Network).where(Network.id.in_({p.network_id for p in ports}))
        )
    }
    fixed = await ipam.port_addresses(session, ids)
    subnet_ids = {a["subnet_id"] for addrs in fixed.values() for a in addrs}
    subnets = {
        s.id: s
        for s in (
            await session.scalars(select(Subnet).where(Subnet.id.in_(subnet_ids)))
            if subnet_ids
            else []
        )
    }
    groups: dict[str, list[str]] = {pid: [] for pid in ids}
    for pid, gid in await session.execute(
        select(PortSecurityGroup.port_id, PortSecurityGroup.security_group_id).where(
            PortSecurityGroup.port_id.in_(ids)
        )
    ):
        groups[pid].append(gid)
    all_groups = {g for gs in groups.values() for g in gs}
    rules: dict[str, list[SecurityGroupRule]] = {g: [] for g in all_groups}
    if all_groups:
        for rule in await session.scalars(
            select(SecurityGroupRule)
            .where(SecurityGroupRule.security_group_id.in_(all_groups))
            .order_by(SecurityGroupRule.created_at, SecurityGroupRule.id)
        ):
            rules[rule.security_group_id].append(rule)
    remote = {r.remote_group_id for rs in rules.values() for r in rs if r.remote_group_id}
    members = await _member_ips(session, remote)
    specs: list[contract.PortSpec] = []
    for port in ports:
        net = nets.get(port.network_id)
        specs.append(
            contract.PortSpec(
                id=port.id,
                network_id=port.network_id,
                network_name=net.name if net is not None else "",
                mac_address=port.mac_address,
                fixed_ips=[
                    _fixed_ip(subnets[a["subnet_id"]], a["ip_address"])
                    for a in fixed[port.id]
                    if a["subnet_id"] in subnets
                ],
                mtu=net.mtu if net is not None else 1500,
                network_type=net.network_type if net is not None else None,
                physical_network=net.physical_network if net is not None else None,
                segmentation_id=net.segmentation_id if net is not None else None,
                admin_state_up=port.admin_state_up,
                port_security_enabled=port.port_security_enabled,
                security_rules=[
                    _rule_spec(rule, members)
                    for gid in groups[port.id]
                    for rule in rules.get(gid, [])
                ]
                if port.port_security_enabled
                else [],
            )
        )
    return specs


def _fixed_ip(subnet: Subnet, ip: str) -> contract.FixedIPSpec:
    return contract.FixedIPSpec(
        subnet_id=subnet.id,
        ip_address=ip,
        cidr=subnet.cidr,
        version=6 if subnet.ip_version == 6 else 4,
        gateway_ip=subnet.gateway_ip,
        enable_dhcp=subnet.enable_dhcp,
        dns_nameservers=[str(d) for d in subnet.dns_nameservers or []],
        host_routes=[dict(r) for r in subnet.host_routes or []],
        ipv6_address_mode=subnet.ipv6_address_mode,
    )


def addresses(specs: Sequence[contract.PortSpec]) -> dict[str, list[dict[str, Any]]]:
    """Nova's ``addresses``: fixed IPs keyed by network name, in port order."""
    out: dict[str, list[dict[str, Any]]] = {}
    for spec in specs:
        entries = out.setdefault(spec.network_name or spec.network_id, [])
        for ip in spec.fixed_ips:
            entries.append(
                {
                    "version": ip.version,
                    "addr": ip.ip_address,
                    "OS-EXT-IPS:type": "fixed",
                    "OS-EXT-IPS-MAC:mac_addr": spec.mac_address,
                }
            )
    return out
