"""Racks as host aggregates: the metadata that makes an aggregate a rack, and keeping the
enrolled hosts in them.

A *rack aggregate* is a Nova host aggregate whose metadata says so::

    stockyard:failure_domain = rack
    stockyard:region         = RegionOne
    stockyard:rack           = r1
    availability_zone        = az1          (the aggregate's zone, Nova's own field)

A rack is named within its AZ, so ``(region, az, rack)`` is its identity; the aggregate's
name is only a label (``RegionOne/az1/r1`` when Stockyard creates it). A host belongs to at
most one rack aggregate, and its ``Host.region`` / ``Host.az`` / ``Host.rack`` columns (the
scheduler's and the stock API's failure-domain data) agree with it: lab enrolment writes
both, and the compute API's aggregate actions update the host columns when an admin puts a
host into a rack (``stockyard.api.compute.racks``). A future registration of real hosts
(Ansible) only has to add each host to its rack aggregate.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.db.base import new_uuid, utcnow
from stockyard.db.models import Aggregate, AggregateHost

log = logging.getLogger(__name__)

FAILURE_DOMAIN_KEY = "stockyard:failure_domain"
REGION_KEY = "stockyard:region"
RACK_KEY = "stockyard:rack"
RACK = "rack"


@dataclass(frozen=True, slots=True, order=True)
class RackId:
    """A rack's identity: racks are named within their availability zone."""

    region: str
    az: str
    rack: str

    def label(self) -> str:
        """The name Stockyard gives the rack's aggregate, e.g. ``RegionOne/az1/r1``."""
        return f"{self.region}/{self.az}/{self.rack}"


def is_rack_metadata(metadata: Mapping[str, Any] | None) -> bool:
    """Whether aggregate metadata (without ``availability_zone``) marks a rack."""
    return bool(metadata) and (metadata or {}).get(FAILURE_DOMAIN_KEY) == RACK


def rack_metadata(rack: RackId) -> dict[str, str]:
    """The metadata of a rack aggregate (its zone goes in ``availability_zone``)."""
    return {FAILURE_DOMAIN_KEY: RACK, REGION_KEY: rack.region, RACK_KEY: rack.rack}


def rack_of(agg: Aggregate) -> RackId | None:
    """The rack an aggregate stands for; None for other aggregates or incomplete ones."""
    extra = agg.extra or {}
    if not is_rack_metadata(extra):
        return None
    region, rack = extra.get(REGION_KEY), extra.get(RACK_KEY)
    if not region or not rack or not agg.availability_zone:
        return None
    return RackId(str(region), agg.availability_zone, str(rack))


async def _rack_aggregates(session: AsyncSession) -> dict[RackId, Aggregate]:
    """Rack aggregates by rack (the oldest one if an admin made two for one rack)."""
    out: dict[RackId, Aggregate] = {}
    for agg in (await session.scalars(select(Aggregate).order_by(Aggregate.id))).all():
        rack = rack_of(agg)
        if rack is not None and rack not in out:
            out[rack] = agg
    return out


def _free_name(wanted: str, taken: set[str]) -> str:
    name, n = wanted, 1
    while name in taken:
        n += 1
        name = f"{wanted} ({n})"
    taken.add(name)
    return name


async def sync_rack_aggregates(session: AsyncSession, hosts: Mapping[str, RackId]) -> None:
    """Put each host (name -> rack) into its rack's aggregate, and only that one.

    Rack aggregates that do not exist yet are created. A host that sits in another rack
    aggregate (the lab file moved it) leaves it. Hosts not named are left alone, and so
    are empty aggregates. A host that is in a non-rack aggregate of another zone (an
    admin moved it) is left out of its rack with a warning: a host never has two zones.
    Idempotent, and a handful of statements whatever the fleet's size; nothing is
    written when nothing changed. The caller owns the transaction.
    """
    if not hosts:
        return
    by_rack = await _rack_aggregates(session)
    missing = sorted(set(hosts.values()) - set(by_rack))
    if missing:
        taken = set((await session.scalars(select(Aggregate.name))).all())
        now = utcnow()
        await session.execute(
            insert(Aggregate),
            [
                {
                    "uuid": new_uuid(),
                    "name": _free_name(rack.label(), taken),
                    "availability_zone": rack.az,
                    "extra": rack_metadata(rack),
                    "created_at": now,
                }
                for rack in missing
            ],
        )
        by_rack = await _rack_aggregates(session)
    rack_ids = {agg.id for agg in by_rack.values()}
    # Every membership that matters: in rack aggregates, or in other zoned aggregates.
    rows = await session.execute(
        select(
            AggregateHost.id,
            AggregateHost.aggregate_id,
            AggregateHost.host_name,
            Aggregate.availability_zone,
            Aggregate.extra,
        ).join(Aggregate, Aggregate.id == AggregateHost.aggregate_id)
    )
    in_racks: dict[str, dict[int, int]] = {}  # host -> rack aggregate id -> membership id
    other_zones: dict[str, set[str]] = {}
    for member_id, agg_id, host, zone, extra in rows.all():
        if host not in hosts:
            continue
        if agg_id in rack_ids or is_rack_metadata(extra):
            in_racks.setdefault(host, {})[agg_id] = member_id
        elif zone:
            other_zones.setdefault(host, set()).add(zone)
    to_add: list[dict[str, Any]] = []
    to_drop: list[int] = []
    for host, rack in hosts.items():
        target = by_rack[rack]
        current = in_racks.get(host, {})
        to_drop.extend(mid for agg_id, mid in current.items() if agg_id != target.id)
        if target.id in current:
            continue
        clash = other_zones.get(host, set()) - {rack.az}
        if clash:
            log.warning(
                "host %s stays out of rack aggregate %s (zone %s): it is in zone(s) %s "
                "through other aggregates",
                host, target.name, rack.az, ", ".join(sorted(clash)),
            )  # fmt: skip
            continue
        to_add.append({"aggregate_id": target.id, "host_name": host})
    if to_drop:
        await session.execute(delete(AggregateHost).where(AggregateHost.id.in_(to_drop)))
    if to_add:
        await session.execute(insert(AggregateHost), to_add)
    if to_drop or to_add:
        log.info(
            "rack aggregates: %d host(s) added, %d membership(s) dropped", len(to_add), len(to_drop)
        )
