"""``GET /os-server-groups/{id}/stockyard-placement``: where a group's members are.

A Stockyard extension, so that a group's own project can check its HA spread from data
(the failure domains of each member's host), never from host names, which members do not
see (Nova hides ``host`` from them; ``hostId`` is the usual per-project hash). Nova's
server-group bodies are left as they are.

The body::

    {"server_group_placement": {
        "id", "name", "policy", "failure_domain", "rule_met",
        "members": [{"id", "name", "status", "hostId",
                     "region", "availability_zone", "rack"}]}}

``region`` / ``availability_zone`` / ``rack`` are those of the host the member is on now
(the zone as ``os-availability-zone`` counts it), all null while it is on none.
``rule_met`` says whether the placed members satisfy the policy at ``failure_domain``
now: anti-affinity policies at most one member per domain (``max_server_per_host`` per
host at the host level), affinity policies one domain for all. For the soft policies
``false`` only means the spread (or packing) is partial, which they allow.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.api.compute.groups import get_group
from stockyard.api.compute.server_views import host_id
from stockyard.api.compute.zones import effective_az
from stockyard.api.deps import ProjectCtx, SessionDep
from stockyard.db.models import Aggregate, AggregateHost, Host, Instance, ServerGroupMember
from stockyard.lifecycle.states import api_status

router = APIRouter()


class MemberPlacement(BaseModel):
    id: str
    name: str
    status: str
    hostId: str  # Nova's spelling
    region: str | None
    availability_zone: str | None
    rack: str | None


class GroupPlacement(BaseModel):
    id: str
    name: str
    policy: str
    failure_domain: str
    rule_met: bool
    members: list[MemberPlacement]


class GroupPlacementBody(BaseModel):
    server_group_placement: GroupPlacement


async def _hosts(session: AsyncSession, names: set[str]) -> dict[str, tuple[str, str, str]]:
    """Host name -> (region, effective zone, rack)."""
    if not names:
        return {}
    hosts = await session.execute(
        select(Host.name, Host.region, Host.az, Host.rack).where(Host.name.in_(names))
    )
    zones: dict[str, list[str | None]] = {}
    rows = await session.execute(
        select(AggregateHost.host_name, Aggregate.availability_zone)
        .join(Aggregate, Aggregate.id == AggregateHost.aggregate_id)
        .where(AggregateHost.host_name.in_(names), Aggregate.availability_zone.is_not(None))
    )
    for name, zone in rows.all():
        zones.setdefault(name, []).append(zone)
    return {
        name: (region, effective_az(az, zones.get(name, ())), rack)
        for name, region, az, rack in hosts.all()
    }


def _rule_met(policy: str, limit: int, domains: list[str]) -> bool:
    if not domains:
        return True
    if policy in ("affinity", "soft-affinity"):
        return len(set(domains)) == 1
    return max(Counter(domains).values()) <= limit


@router.get(
    "/os-server-groups/{group_id}/stockyard-placement",
    response_model=GroupPlacementBody,
    summary="Failure domains of a server group's members (Stockyard extension)",
)
async def group_placement(group_id: str, session: SessionDep, ctx: ProjectCtx) -> dict[str, Any]:
    """Each member of the group with its status and the region, availability zone and rack
    of the host it is on, and whether the group's policy holds at its ``failure_domain``.

    Only the group's project (and admins) may read it; others get 404 as for the group.
    Host names are not shown: ``hostId`` is Nova's per-project hash of the host.
    """
    group = await get_group(session, ctx, group_id)
    members = (
        await session.scalars(
            select(Instance)
            .join(ServerGroupMember, ServerGroupMember.instance_uuid == Instance.uuid)
            .where(ServerGroupMember.group_id == group.id, Instance.deleted.is_(False))
            .order_by(ServerGroupMember.id)
        )
    ).all()
    hosts = await _hosts(session, {m.host for m in members if m.host})
    rules = dict(group.rules or {})
    level = str(rules.get("failure_domain") or "host")
    out: list[dict[str, Any]] = []
    domains: list[str] = []
    for inst in members:
        where: tuple[str | None, str | None, str | None] = (None, None, None)
        if inst.host:
            # The host's data now; the instance's record if the host row is gone.
            where = hosts.get(inst.host) or (inst.region, inst.availability_zone, inst.rack)
            region, az, rack = where
            domains.append(
                {
                    "host": inst.host,
                    "rack": f"{region}/{az}/{rack}",
                    "az": f"{region}/{az}",
                    "region": str(region),
                }[level]
            )
        out.append(
            {
                "id": inst.uuid,
                "name": inst.name,
                "status": api_status(inst.vm_state, inst.task_state),
                "hostId": host_id(inst.project_id, inst.host),
                "region": where[0],
                "availability_zone": where[1],
                "rack": where[2],
            }
        )
    per_host = rules.get("max_server_per_host")
    limit = int(per_host) if level == "host" and per_host else 1
    return {
        "server_group_placement": {
            "id": group.uuid,
            "name": group.name,
            "policy": group.policy,
            "failure_domain": level,
            "rule_met": _rule_met(group.policy, limit, domains),
            "members": out,
        }
    }
