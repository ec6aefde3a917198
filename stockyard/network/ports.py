"""Ports: MAC addresses, fixed IPs through IPAM, security groups, binding."""

from __future__ import annotations

import random
import re
from typing import Any

from sqlalchemy import ColumnElement, delete, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.db.models import Instance, Network, Port, PortSecurityGroup, SecurityGroup
from stockyard.identity.context import RequestContext
from stockyard.network import ipam, networks, port_sync, quota, secgroups, subnets
from stockyard.network.addressing import parse_ip
from stockyard.network.errors import (
    BadRequest,
    Conflict,
    PolicyNotAuthorized,
    delete_or_not_found,
    invalid_attr,
    not_found,
)

MAC_PREFIX = "fa:16:3e"
_MAC = re.compile(r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$")
# Port attributes a host's datapath enforces: changing one re-applies the server's ports.
_SYNCED = {"fixed_ips", "security_groups", "port_security_enabled", "admin_state_up", "mac_address"}
VNIC_TYPES = ("normal", "baremetal", "direct", "macvtap", "direct-physical", "virtio-forwarder")


def visible(ctx: RequestContext) -> ColumnElement[bool]:
    """Members see their project's ports and every port on a network they own."""
    if ctx.is_admin:
        return true()
    owned = select(Network.id).where(Network.project_id == ctx.project_id)
    return or_(Port.project_id == ctx.project_id, Port.network_id.in_(owned))


async def get(
    session: AsyncSession, ctx: RequestContext, port_id: str, *, fresh: bool = False
) -> Port:
    """The port ``ctx`` may see (404 otherwise); ``fresh``: re-read, not the session's copy."""
    stmt = select(Port).where(Port.id == port_id, visible(ctx))
    if fresh:
        stmt = stmt.execution_options(populate_existing=True)
    port = await session.scalar(stmt)
    if port is None:
        raise not_found("Port", port_id)
    return port


def _mac(value: Any) -> str:
    text = str(value).lower()
    if not _MAC.match(text) or int(text[:2], 16) & 1:
        raise invalid_attr("mac_address", f"'{value}' is not a valid MAC address")
    return text


def _status(port: Port) -> str:
    # No datapath yet: a port bound to a host and administratively up is ACTIVE.
    return "ACTIVE" if port.binding_host_id and port.admin_state_up else "DOWN"


def parse_fixed_ips(raw: Any) -> list[ipam.FixedIP]:
    if not isinstance(raw, list):
        raise invalid_attr("fixed_ips", f"Invalid data format for fixed IP: '{raw}'")
    out: list[ipam.FixedIP] = []
    for item in raw:
        if not isinstance(item, dict) or not set(item) <= {"subnet_id", "ip_address"} or not item:
            raise invalid_attr("fixed_ips", f"Invalid data format for fixed IP: '{item}'")
        ip = item.get("ip_address")
        if ip is not None:
            ip = str(parse_ip(ip, "fixed_ips"))
        out.append(ipam.FixedIP(item.get("subnet_id"), ip))
    return out


async def _groups(
    session: AsyncSession, project_id: str, requested: Any, port_security: bool, owner: str
) -> list[str]:
    if requested is None:
        if not port_security or owner.startswith("network:"):
            return []
        return [await secgroups.ensure_default(session, project_id)]
    if not isinstance(requested, list):
        raise invalid_attr("security_groups", f"'{requested}' is not a list")
    ids: list[str] = []
    for gid in requested:
        group = await session.get(SecurityGroup, str(gid))
        if group is None or group.project_id != project_id:
            raise not_found("SecurityGroup", str(gid))
        if group.id not in ids:
            ids.append(group.id)
    if ids and not port_security:
        raise BadRequest(
            "Port security must be enabled and port must have an IP address in order to use "
            "security groups.",
            type="PortSecurityAndIPRequiredForSecurityGroups",
        )
    return ids


async def _set_groups(session: AsyncSession, port_id: str, ids: list[str]) -> None:
    await session.execute(delete(PortSecurityGroup).where(PortSecurityGroup.port_id == port_id))
    session.add_all(PortSecurityGroup(port_id=port_id, security_group_id=gid) for gid in ids)


async def free_mac(session: AsyncSession, network_id: str) -> str:
    """A random ``fa:16:3e`` MAC no port of ``network_id`` has."""
    while True:
        tail = ":".join(f"{random.randrange(256):02x}" for _ in range(3))
        mac = f"{MAC_PREFIX}:{tail}"
        used = await session.scalar(
            select(Port.id).where(Port.network_id == network_id, Port.mac_address == mac)
        )
        if used is None:
            return mac


def _mac_in_use(network_id: str, mac: str) -> Conflict:
    return Conflict(
        f"Unable to complete operation for network {network_id}. The mac address {mac} is in use.",
        type="MacAddressInUse",
    )


def _binding(ctx: RequestContext, attrs: dict[str, Any], action: str) -> None:
    for key in ("binding:host_id", "binding:profile"):
        if key in attrs and not ctx.is_admin:
            raise PolicyNotAuthorized(f"{action}:{key}")
    vnic = attrs.get("binding:vnic_type")
    if vnic is not None and vnic not in VNIC_TYPES:
        raise invalid_attr("binding:vnic_type", f"'{vnic}' is not in {list(VNIC_TYPES)}")


async def create(
    session: AsyncSession, ctx: RequestContext, project_id: str, attrs: dict[str, Any]
) -> Port:
    network = await networks.get(session, ctx, str(attrs["network_id"]))
    owner_of_net = networks.owns(ctx, network)
    if not (owner_of_net or network.shared):
        raise PolicyNotAuthorized("create_port")
    _binding(ctx, attrs, "create_port")
    requests = parse_fixed_ips(attrs["fixed_ips"]) if "fixed_ips" in attrs else None
    if requests and not owner_of_net and any(r.ip_address for r in requests):
        raise PolicyNotAuthorized("create_port:fixed_ips:ip_address")
    if "mac_address" in attrs and not owner_of_net:
        raise PolicyNotAuthorized("create_port:mac_address")
    await quota.check(session, project_id, "port")
    port_security = attrs.get("port_security_enabled", network.port_security_enabled)
    owner = str(attrs.get("device_owner", ""))
    groups = await _groups(session, project_id, attrs.get("security_groups"), port_security, owner)
    if "mac_address" in attrs:
        mac = _mac(attrs["mac_address"])
        taken = await session.scalar(
            select(Port.id).where(Port.network_id == network.id, Port.mac_address == mac)
        )
        if taken is not None:
            raise _mac_in_use(network.id, mac)
    else:
        mac = await free_mac(session, network.id)
    port = Port(
        network_id=network.id,
        project_id=project_id,
        name=attrs.get("name", ""),
        description=attrs.get("description", ""),
        mac_address=mac,
        admin_state_up=attrs.get("admin_state_up", True),
        device_id=attrs.get("device_id", ""),
        device_owner=owner,
        port_security_enabled=port_security,
        binding_host_id=attrs.get("binding:host_id") or "",
        binding_vnic_type=attrs.get("binding:vnic_type") or "normal",
        binding_profile=attrs.get("binding:profile") or {},
    )
    port.status = _status(port)
    session.add(port)
    await session.flush()
    await ipam.allocate(
        session,
        port.id,
        network.id,
        await subnets.of_network(session, network.id),
        requests,
        port.mac_address,
    )
    await _set_groups(session, port.id, groups)
    await session.flush()
    return port


async def update(
    session: AsyncSession, ctx: RequestContext, port_id: str, changes: dict[str, Any]
) -> Port:
    port = await get(session, ctx, port_id)
    if port.device_id and _SYNCED & set(changes):
        # The change bumps the server's port revision: its row is locked before the
        # port's is written, the order of every other writer of both (server actions,
        # interface results), so two such transactions never wait on each other crosswise.
        await session.execute(
            select(Instance.id).where(Instance.uuid == port.device_id).with_for_update()
        )
        # As it is now: a delete of the server (or a detach) may have removed or changed
        # it while the lock was awaited.
        port = await get(session, ctx, port_id, fresh=True)
    network = await session.get(Network, port.network_id)
    owner_of_net = network is not None and networks.owns(ctx, network)
    groups_before = await port_sync.port_groups(session, port.id)
    _binding(ctx, changes, "update_port")
    if "mac_address" in changes:
        if not ctx.is_admin:
            raise PolicyNotAuthorized("update_port:mac_address")
        mac = _mac(changes["mac_address"])
        if mac != port.mac_address:
            if port.binding_host_id:
                raise Conflict(
                    f"Port {port.id} is bound; its MAC address cannot change.", type="PortBound"
                )
            taken = await session.scalar(
                select(Port.id).where(Port.network_id == port.network_id, Port.mac_address == mac)
            )
            if taken is not None:
                raise _mac_in_use(port.network_id, mac)
            port.mac_address = mac
            await ipam.follow_mac(session, port.id, mac)
    if "fixed_ips" in changes:
        requests = parse_fixed_ips(changes["fixed_ips"])
        if not owner_of_net and any(r.ip_address for r in requests):
            raise PolicyNotAuthorized("update_port:fixed_ips:ip_address")
        current = await ipam.port_addresses(session, [port.id])
        held = {(a["subnet_id"], a["ip_address"]) for a in current[port.id]}
        # An entry naming an address the port holds keeps it (with or without subnet_id).
        keep: set[tuple[str, str]] = {
            pair
            for pair in held
            for r in requests
            if r.ip_address == pair[1] and r.subnet_id in (None, pair[0])
        }
        await ipam.release(session, port.id, keep)
        kept_ips = {ip for _, ip in keep}
        todo = [r for r in requests if r.ip_address is None or r.ip_address not in kept_ips]
        if todo:
            await ipam.allocate(
                session, port.id, port.network_id,
                await subnets.of_network(session, port.network_id), todo, port.mac_address,
            )  # fmt: skip
    port_security = changes.get("port_security_enabled", port.port_security_enabled)
    if "security_groups" in changes or port_security != port.port_security_enabled:
        requested = changes.get("security_groups")
        if requested is None and "security_groups" not in changes:
            rows = await session.scalars(
                select(PortSecurityGroup.security_group_id).where(
                    PortSecurityGroup.port_id == port.id
                )
            )
            requested = list(rows)
        groups = await _groups(
            session, port.project_id, requested or [], port_security, port.device_owner
        )
        await _set_groups(session, port.id, groups)
    columns = {
        "binding:host_id": "binding_host_id",
        "binding:vnic_type": "binding_vnic_type",
        "binding:profile": "binding_profile",
    }
    for key in ("name", "description", "admin_state_up", "device_id", "device_owner",
                "port_security_enabled", *columns):  # fmt: skip
        if key in changes:
            value = changes[key]
            if key in ("binding:host_id",) and value is None:
                value = ""
            setattr(port, columns.get(key, key), value if value is not None else {})
    port.status = _status(port)
    port.revision_number += 1
    if port.device_id and _SYNCED & set(changes):
        # The host enforces these: the server's host, and the peers whose remote-group
        # rules name the port's groups, re-apply their ports.
        touched = groups_before | await port_sync.port_groups(session, port.id)
        await port_sync.membership_changed(session, touched, [port.device_id])
    await session.flush()
    return port


async def remove(session: AsyncSession, ctx: RequestContext, port_id: str) -> None:
    """Delete the port; its addresses go back to IPAM in the same transaction."""
    port = await get(session, ctx, port_id)
    if port.device_id:
        groups = await port_sync.port_groups(session, port.id)
        await port_sync.membership_changed(session, groups, [port.device_id])
    await ipam.release(session, port.id)
    await session.execute(delete(PortSecurityGroup).where(PortSecurityGroup.port_id == port.id))
    await delete_or_not_found(session, port, "Port")


async def groups_of(session: AsyncSession, port_ids: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {pid: [] for pid in port_ids}
    if port_ids:
        rows = await session.execute(
            select(PortSecurityGroup.port_id, PortSecurityGroup.security_group_id).where(
                PortSecurityGroup.port_id.in_(port_ids)
            )
        )
        for pid, gid in rows:
            out[pid].append(gid)
    return out
