"""Batch rendering: the related rows of many resources in one query each."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.api.network import views
from stockyard.db.models import Network, Port, SecurityGroup
from stockyard.identity.context import RequestContext
from stockyard.network import ipam, networks, ports, secgroups


async def networks_(
    session: AsyncSession, ctx: RequestContext, rows: list[Network]
) -> list[dict[str, Any]]:
    subnet_ids = await networks.subnet_ids(session, [n.id for n in rows])
    return [views.network(ctx, n, subnet_ids[n.id]) for n in rows]


async def ports_(
    session: AsyncSession, ctx: RequestContext, rows: list[Port]
) -> list[dict[str, Any]]:
    ids = [p.id for p in rows]
    addresses = await ipam.port_addresses(session, ids)
    groups = await ports.groups_of(session, ids)
    return [views.port(ctx, p, addresses[p.id], groups[p.id]) for p in rows]


async def groups_(session: AsyncSession, rows: list[SecurityGroup]) -> list[dict[str, Any]]:
    rules = await secgroups.rules_of(session, [g.id for g in rows])
    return [views.security_group(g, rules[g.id]) for g in rows]
