"""Availability zones: the one rule for a host's zone, and ``os-availability-zone``.

A host's effective zone is the ``availability_zone`` of an aggregate it belongs to, if
any, else its own ``Host.az`` (Nova: aggregates define zones, the rest is the default).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.api.compute.common import iso
from stockyard.api.compute.hostinfo import host_is_up
from stockyard.api.deps import AdminCtx, ProjectCtx, SessionDep
from stockyard.db.base import utcnow
from stockyard.db.models import Aggregate, AggregateHost, Host

router = APIRouter()


def effective_az(host_az: str, aggregate_zones: Iterable[str | None]) -> str:
    """The zone of a host whose own zone is ``host_az`` and whose aggregates have
    ``aggregate_zones``: an aggregate's zone wins (aggregates of one host never disagree,
    adding a host to a second zone is refused; ``min`` only makes the choice stable)."""
    zones = [z for z in aggregate_zones if z]
    return min(zones) if zones else host_az


async def aggregate_zones_by_host(session: AsyncSession) -> dict[str, list[str]]:
    """Host name -> zones of the aggregates it belongs to (only aggregates with a zone)."""
    rows = await session.execute(
        select(AggregateHost.host_name, Aggregate.availability_zone)
        .join(Aggregate, Aggregate.id == AggregateHost.aggregate_id)
        .where(Aggregate.availability_zone.is_not(None))
    )
    out: dict[str, list[str]] = {}
    for host_name, zone in rows.all():
        if zone:
            out.setdefault(host_name, []).append(zone)
    return out


async def host_zone_map(session: AsyncSession) -> dict[str, str]:
    """Every host's name -> its effective zone."""
    by_host = await aggregate_zones_by_host(session)
    rows = await session.execute(select(Host.name, Host.az))
    return {name: effective_az(az, by_host.get(name, ())) for name, az in rows.all()}


async def zone_of_host(session: AsyncSession, host_name: str) -> str | None:
    """The effective zone of one host, or None if there is no such host."""
    host_az = await session.scalar(select(Host.az).where(Host.name == host_name))
    if host_az is None:
        return None
    zones = await session.scalars(
        select(Aggregate.availability_zone)
        .join(AggregateHost, Aggregate.id == AggregateHost.aggregate_id)
        .where(AggregateHost.host_name == host_name)
    )
    return effective_az(host_az, zones.all())


async def _hosts_by_zone(session: AsyncSession) -> dict[str, list[Host]]:
    by_host = await aggregate_zones_by_host(session)
    zones: dict[str, list[Host]] = {}
    for host in (await session.scalars(select(Host).order_by(Host.name))).all():
        zones.setdefault(effective_az(host.az, by_host.get(host.name, ())), []).append(host)
    return zones


@router.get("/os-availability-zone")
async def list_zones(session: SessionDep, ctx: ProjectCtx) -> dict[str, Any]:
    """Zones that hold hosts; a zone is available while one of its hosts is enabled."""
    zones = await _hosts_by_zone(session)
    info = [
        {
            "zoneName": name,
            "zoneState": {"available": any(h.status == "enabled" for h in hosts)},
            "hosts": None,
        }
        for name, hosts in sorted(zones.items())
    ]
    return {"availabilityZoneInfo": info}


@router.get("/os-availability-zone/detail")
async def list_zones_detail(session: SessionDep, ctx: AdminCtx) -> dict[str, Any]:
    """Admin: zones with their hosts and each host's ``nova-compute`` service."""
    zones = await _hosts_by_zone(session)
    now = utcnow()
    info = []
    for name, hosts in sorted(zones.items()):
        info.append(
            {
                "zoneName": name,
                "zoneState": {"available": any(h.status == "enabled" for h in hosts)},
                "hosts": {
                    h.name: {
                        "nova-compute": {
                            "available": host_is_up(h, now),
                            "active": h.status == "enabled",
                            "updated_at": iso(h.last_seen),
                        }
                    }
                    for h in hosts
                },
            }
        )
    return {"availabilityZoneInfo": info}
