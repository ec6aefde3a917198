"""``networks`` of ``POST /servers``: validated against Networking v2 with Nova's errors.

The result is what ``Instance.requested_networks`` stores (see
``stockyard.network.server_ports``); ports are created when the server is placed.
A user's port is reserved for the server here (its ``device_id``), in the create's
transaction, so two creates cannot both take it.
"""

from __future__ import annotations

import ipaddress
import uuid as uuidlib
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.api.compute.server_schemas import NetworkRequest
from stockyard.api.errors import APIError
from stockyard.api.microversion import APIVersion
from stockyard.db.base import execute_count
from stockyard.db.models import Instance, IPAllocation, Network, Port, SecurityGroup, Subnet
from stockyard.identity.context import RequestContext
from stockyard.network import networks, ports, provider, quota

_AMBIGUOUS = (
    "More than one possible network found. Specify network ID(s) to select which one(s) "
    "to connect to."
)


def _tag_allowed(version: APIVersion) -> bool:
    # 2.32 added tags to networks; 2.37 dropped them by accident and 2.42 restored them.
    return version.at_least("2.32") and (not version.at_least("2.37") or version.at_least("2.42"))


async def _auto(session: AsyncSession, ctx: RequestContext) -> dict[str, Any]:
    """Nova's get-me-a-network: the project's one network, else the one shared network,
    else the provider network of the region the server lands in."""
    project = ctx.project_id or ""
    own_net = and_(Network.project_id == project, Network.segment_key.is_(None))
    shared_net = and_(Network.shared.is_(True), Network.router_external.is_(False))
    # One query for both candidates (the project's and the shared networks).
    rows = (
        await session.execute(
            select(
                Network.id, own_net.label("own"), shared_net.label("shared"), Network.segment_key
            ).where(or_(own_net, shared_net))
        )
    ).all()
    own = [row.id for row in rows if row.own]
    if len(own) > 1:
        raise APIError(409, _AMBIGUOUS)
    if own:
        return {"uuid": own[0]}
    # Every region's provider network counts as one choice: they are not "shared".
    keys = await provider.provider_segment_keys(session)
    shared = [row.id for row in rows if row.shared and row.segment_key not in keys]
    if len(shared) > 1:
        raise APIError(409, _AMBIGUOUS)
    return {"uuid": shared[0]} if shared else {"provider": True}


async def _network(session: AsyncSession, ctx: RequestContext, net_id: str) -> Network:
    try:
        uuidlib.UUID(net_id)
    except ValueError:
        raise APIError(
            400, f"Bad networks format: network uuid is not in proper format ({net_id})"
        ) from None
    net = await session.scalar(select(Network).where(Network.id == net_id, networks.visible(ctx)))
    if net is None:
        raise APIError(400, f"Network {net_id} could not be found.")
    return net


async def _fixed_ip(session: AsyncSession, net: Network, value: str) -> str:
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        raise APIError(400, f"Invalid fixed IP address ({value})") from None
    cidrs = await session.scalars(select(Subnet.cidr).where(Subnet.network_id == net.id))
    if not any(ip in ipaddress.ip_network(c) for c in cidrs):
        raise APIError(400, f"Fixed IP address {ip} is not valid for network {net.id}.")
    holder = await session.scalar(
        select(Port.device_id)
        .join(IPAllocation, IPAllocation.port_id == Port.id)
        .where(IPAllocation.network_id == net.id, IPAllocation.ip_address == str(ip))
    )
    if holder is not None:
        raise APIError(400, f"Fixed IP address {ip} is already in use on instance {holder}.")
    return str(ip)


async def _port(session: AsyncSession, ctx: RequestContext, port_id: str) -> Port:
    port = await session.scalar(select(Port).where(Port.id == port_id, ports.visible(ctx)))
    if port is None:
        raise APIError(400, f"Port id {port_id} could not be found.")
    if port.device_id:
        raise APIError(409, f"Port {port_id} is still in use.")
    return port


async def _security_groups(
    session: AsyncSession, ctx: RequestContext, raw: list[dict[str, str]] | None
) -> list[str]:
    """The server's ``security_groups`` (names or ids of the project's groups) as ids;
    the project's ``default`` group (created on first use) when none are given."""
    ids: list[str] = []
    for item in raw or []:
        name = str(item.get("name", ""))
        group = await session.scalar(
            select(SecurityGroup).where(
                SecurityGroup.project_id == (ctx.project_id or ""),
                (SecurityGroup.name == name) | (SecurityGroup.id == name),
            )
        )
        if group is None:
            raise APIError(400, f"Security group {name} not found.")
        if group.id not in ids:
            ids.append(group.id)
    return ids


async def requested_networks(
    session: AsyncSession,
    ctx: RequestContext,
    raw: str | list[NetworkRequest] | None,
    version: APIVersion,
    count: int,
    security_groups: list[dict[str, str]] | None = None,
) -> list[dict[str, Any]]:
    """Validate ``networks`` for ``count`` servers; the entries to store on each."""
    if raw == "none":
        return []
    if raw is None or isinstance(raw, str):
        entries = [await _auto(session, ctx)]
    else:
        entries = []
        seen_ports: set[str] = set()
        for item in raw:
            if item.tag is not None and not _tag_allowed(version):
                raise APIError(
                    400,
                    "Invalid input for field/attribute networks. Additional properties are "
                    "not allowed ('tag' was unexpected)",
                )
            entry: dict[str, Any] = {"tag": item.tag} if item.tag is not None else {}
            if item.port:
                if count > 1:
                    raise APIError(
                        400,
                        "Unable to launch multiple instances with a single configured port "
                        "ID. Please launch your instance one by one with different ports.",
                    )
                if item.port in seen_ports:
                    raise APIError(409, f"Port {item.port} is still in use.")
                port = await _port(session, ctx, item.port)
                seen_ports.add(port.id)
                entries.append({**entry, "port": port.id})
                continue
            if not item.uuid:
                raise APIError(400, "Bad network format: missing 'uuid'")
            net = await _network(session, ctx, item.uuid)
            entry["uuid"] = net.id
            if item.fixed_ip:
                if count > 1:
                    raise APIError(
                        400,
                        "Failed to launch instances: max_count cannot be greater than 1 if an "
                        "fixed_ip is specified.",
                    )
                entry["fixed_ip"] = await _fixed_ip(session, net, item.fixed_ip)
            entries.append(entry)
    groups = await _security_groups(session, ctx, security_groups)
    if groups:
        for entry in entries:
            if "port" not in entry:
                entry["security_groups"] = groups
    await check_port_quota(session, ctx, count * sum(1 for e in entries if "port" not in e))
    return entries


async def check_port_quota(session: AsyncSession, ctx: RequestContext, wanted: int) -> None:
    """Nova's PortLimitExceeded (403) when the ports to create pass the project's quota."""
    if wanted <= 0:
        return
    project = ctx.project_id or ""
    limit = (await quota.limits(session, project))["port"]
    if limit < 0:
        return
    used = await session.scalar(
        select(func.count()).select_from(Port).where(Port.project_id == project)
    )
    if int(used or 0) + wanted > limit:
        raise APIError(403, "Maximum number of ports exceeded")


async def reserve(session: AsyncSession, instances: list[Instance]) -> None:
    """Reserve the user's ports named by ``instances``' entries, after the instances have
    their uuids. A conditional UPDATE: of two creates racing for one port, one gets 409."""
    for inst in instances:
        for entry in inst.requested_networks or []:
            if not isinstance(entry, dict) or not entry.get("port"):
                continue
            stmt = (
                update(Port)
                .where(Port.id == str(entry["port"]), Port.device_id == "")
                .values(device_id=inst.uuid, revision_number=Port.revision_number + 1)
                .execution_options(synchronize_session=False)
            )
            if await execute_count(session, stmt) != 1:
                raise APIError(409, f"Port {entry['port']} is still in use.")
