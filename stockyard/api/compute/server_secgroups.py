"""Server actions ``addSecurityGroup`` / ``removeSecurityGroup`` (every microversion):
Nova with Neutron changes the groups of each of the server's ports.

Each port goes through :func:`stockyard.network.ports.update`, the Networking API's own
port update, so the server's host re-applies its ports (and remote-group peers theirs)
as after ``PUT /v2.0/ports/{id}``. Unlike Nova's port-by-port Neutron calls, all ports
change in one transaction: a refusal leaves none changed.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.api.compute.server_common import load_server
from stockyard.api.errors import APIError
from stockyard.db.models import Port, SecurityGroup
from stockyard.identity.context import RequestContext
from stockyard.network import ipam, ports, secgroups
from stockyard.network.errors import NeutronError

ADD = "addSecurityGroup"
REMOVE = "removeSecurityGroup"


def _group_name(value: Any) -> str:
    """Nova's ``_parse`` of the action's body."""
    if not isinstance(value, dict):
        raise APIError(400, "Missing parameter dict")
    if "name" not in value:
        raise APIError(400, "Security group not specified")
    name = value["name"]
    if not name or not str(name).strip():
        raise APIError(400, "Security group name cannot be empty")
    return str(name)


async def _find_group(session: AsyncSession, ctx: RequestContext, name: str) -> str:
    """neutronclient's ``find_resourceid_by_name_or_id``: an id the caller may see, else
    a name among the project's groups (two of that name: 409)."""
    try:
        uuid.UUID(name)
    except ValueError:
        pass
    else:
        group = await session.get(SecurityGroup, name)
        if group is not None and secgroups.can_see(ctx, group.project_id):
            return group.id
    ids = list(
        await session.scalars(
            select(SecurityGroup.id).where(
                SecurityGroup.name == name, SecurityGroup.project_id == (ctx.project_id or "")
            )
        )
    )
    if len(ids) > 1:
        raise APIError(
            409,
            f"Multiple security_group matches found for name '{name}', "
            "use an ID to be more specific.",
        )
    if not ids:
        raise APIError(404, f"Security group {name} is not found for project {ctx.project_id}")
    return ids[0]


async def _server_ports(session: AsyncSession, ctx: RequestContext, server_uuid: str) -> list[Port]:
    found = list(
        await session.scalars(
            select(Port)
            .where(Port.device_id == server_uuid, ports.visible(ctx))
            .order_by(Port.created_at, Port.id)
        )
    )
    if not found:
        raise APIError(
            404, f"instance_id {server_uuid} could not be found as device id on any ports"
        )
    return found


async def _set_groups(
    session: AsyncSession, ctx: RequestContext, port: Port, groups: list[str]
) -> None:
    try:
        await ports.update(session, ctx, port.id, {"security_groups": groups})
    except NeutronError as exc:
        raise APIError(exc.status, exc.message) from None


async def add_security_group(
    session: AsyncSession, ctx: RequestContext, server_id: str, value: Any
) -> None:
    name = _group_name(value)
    inst = await load_server(session, ctx, server_id)
    group_id = await _find_group(session, ctx, name)
    server_ports = await _server_ports(session, ctx, inst.uuid)
    addresses = await ipam.port_addresses(session, [p.id for p in server_ports])
    current = await ports.groups_of(session, [p.id for p in server_ports])
    for port in server_ports:
        # Nova's _has_security_group_requirements: port security on and an address.
        if not (port.port_security_enabled and addresses[port.id]):
            raise APIError(
                400,
                "Network requires port_security_enabled and subnet associated in order to "
                "apply security groups.",
            )
        if group_id not in current[port.id]:
            await _set_groups(session, ctx, port, [*current[port.id], group_id])
    await session.commit()


async def remove_security_group(
    session: AsyncSession, ctx: RequestContext, server_id: str, value: Any
) -> None:
    name = _group_name(value)
    inst = await load_server(session, ctx, server_id)
    group_id = await _find_group(session, ctx, name)
    server_ports = await _server_ports(session, ctx, inst.uuid)
    current = await ports.groups_of(session, [p.id for p in server_ports])
    found = False
    for port in server_ports:
        if group_id in current[port.id]:
            await _set_groups(session, ctx, port, [g for g in current[port.id] if g != group_id])
            found = True
    if not found:
        raise APIError(404, f"Security group {name} not associated with the instance {inst.uuid}")
    await session.commit()
