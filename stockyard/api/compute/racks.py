"""Rack aggregates in the aggregate API: the checks, and the hosts' failure-domain columns.

An aggregate whose metadata has ``stockyard:failure_domain=rack`` stands for one rack
(``stockyard.failure_domains``). Putting a host into it is how an operator places
hardware: the host's ``rack`` and ``az`` columns (what the scheduler and the stock API
read) follow the aggregate, at once. So that this stays unambiguous:

- a rack aggregate names ``stockyard:region`` and ``stockyard:rack`` and has an
  ``availability_zone``; the region must exist, and one rack has one aggregate;
- a host joins only a rack of its own region (a region is its hwmgr and its network),
  and sits in one rack aggregate at a time;
- renaming the rack or moving it to another zone moves its hosts with it;
- removing a host from its rack leaves its columns as they were until it joins another.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.api.errors import APIError
from stockyard.db.models import Aggregate, AggregateHost, Host, Region
from stockyard.failure_domains import (
    FAILURE_DOMAIN_KEY,
    RACK,
    RACK_KEY,
    REGION_KEY,
    RackId,
    is_rack_metadata,
    rack_of,
)

__all__ = ["check_rack", "check_rack_host", "place_hosts", "rack_of"]


async def _other_rack_of_hosts(
    session: AsyncSession, hosts: list[str], own_id: int
) -> dict[str, str]:
    """Host -> name of another rack aggregate it already belongs to."""
    if not hosts:
        return {}
    rows = await session.execute(
        select(AggregateHost.host_name, Aggregate.name, Aggregate.extra)
        .join(Aggregate, Aggregate.id == AggregateHost.aggregate_id)
        .where(AggregateHost.host_name.in_(hosts), Aggregate.id != own_id)
    )
    return {host: name for host, name, extra in rows.all() if is_rack_metadata(extra)}


async def _wrong_region(session: AsyncSession, hosts: list[str], region: str) -> list[str]:
    if not hosts:
        return []
    rows = await session.execute(
        select(Host.name, Host.region).where(Host.name.in_(hosts), Host.region != region)
    )
    return sorted(f"{name} ({r})" for name, r in rows.all())


async def check_rack(
    session: AsyncSession,
    agg: Aggregate,
    metadata: Mapping[str, Any],
    zone: str | None,
    hosts: list[str],
) -> RackId | None:
    """The rack ``agg`` stands for with ``metadata`` and ``zone``; 400 if that is not a
    valid rack aggregate holding ``hosts``. None for an aggregate that is not a rack."""
    if FAILURE_DOMAIN_KEY not in metadata:
        return None
    field = f"Invalid input for field/attribute metadata.{FAILURE_DOMAIN_KEY}"
    if metadata[FAILURE_DOMAIN_KEY] != RACK:
        raise APIError(
            400, f"{field}. Value: {metadata[FAILURE_DOMAIN_KEY]!r}. Only {RACK!r} is supported."
        )
    missing = [k for k in (REGION_KEY, RACK_KEY) if not metadata.get(k)]
    if not zone:
        missing.append("availability_zone")
    if missing:
        raise APIError(400, f"{field}: a rack aggregate also needs {', '.join(missing)}.")
    rack = RackId(str(metadata[REGION_KEY]), zone or "", str(metadata[RACK_KEY]))
    if await session.get(Region, rack.region) is None:
        raise APIError(
            400,
            f"Invalid input for field/attribute metadata.{REGION_KEY}. Value: "
            f"{rack.region!r}. No such region.",
        )
    for other in (await session.scalars(select(Aggregate).where(Aggregate.id != agg.id))).all():
        if rack_of(other) == rack:
            raise APIError(
                400,
                f"Cannot update aggregate {agg.id}. Reason: rack {rack.label()} is already "
                f"aggregate {other.id} ({other.name}).",
            )
    wrong = await _wrong_region(session, hosts, rack.region)
    if wrong:
        raise APIError(
            400,
            f"Cannot update aggregate {agg.id}. Reason: host(s) {', '.join(wrong)} are not in "
            f"region {rack.region}.",
        )
    elsewhere = await _other_rack_of_hosts(session, hosts, agg.id)
    if elsewhere:
        listed = ", ".join(f"{h} ({a})" for h, a in sorted(elsewhere.items()))
        raise APIError(
            400,
            f"Cannot update aggregate {agg.id}. Reason: host(s) already in another rack: {listed}.",
        )
    return rack


async def check_rack_host(session: AsyncSession, agg: Aggregate, rack: RackId, host: str) -> None:
    """409 unless ``host`` may join rack aggregate ``agg``."""
    reason = ""
    if await _wrong_region(session, [host], rack.region):
        reason = f"host {host} is not in region {rack.region}"
    else:
        elsewhere = await _other_rack_of_hosts(session, [host], agg.id)
        if elsewhere:
            reason = f"host {host} is already in rack aggregate {elsewhere[host]}"
    if reason:
        raise APIError(409, f"Cannot add host to aggregate {agg.id}. Reason: {reason}.")


async def place_hosts(session: AsyncSession, rack: RackId, hosts: list[str]) -> None:
    """Make the hosts' failure-domain columns say they are in ``rack``."""
    if hosts:
        await session.execute(
            update(Host)
            .where(Host.name.in_(hosts), (Host.rack != rack.rack) | (Host.az != rack.az))
            .values(rack=rack.rack, az=rack.az)
        )
