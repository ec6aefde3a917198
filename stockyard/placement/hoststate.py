"""Host states for the scheduler, loaded from the database.

The scheduler's in-memory usage is an optimisation: the database claim decides. So
the index is reloaded in full periodically, and per host after a claim conflict or a
release, overwriting in-memory usage with the database's.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.db.base import Database, utcnow
from stockyard.db.models import Aggregate, AggregateHost, Allocation, Host
from stockyard.scheduler import HostState, Scheduler

DEFAULT_UP_SECONDS = 60.0


async def load_host_states(
    session: AsyncSession,
    *,
    host_ids: Collection[int] | None = None,
    now: datetime | None = None,
    up_seconds: float = DEFAULT_UP_SECONDS,
) -> list[HostState]:
    """Build a :class:`HostState` per host row (all hosts, or ``host_ids``).

    The effective AZ is that of an aggregate with ``availability_zone`` holding the host
    (Nova's rule), else ``Host.az``; metadata of all the host's aggregates is merged.
    A host is up if its agent (or the lab's enrolment) was seen within ``up_seconds``.
    """
    now = now or utcnow()
    stmt = select(Host)
    if host_ids is not None:
        stmt = stmt.where(Host.id.in_(list(host_ids)))
    hosts = (await session.execute(stmt)).scalars().all()
    names = [h.name for h in hosts]
    agg_stmt = select(AggregateHost.host_name, Aggregate).join(
        Aggregate, Aggregate.id == AggregateHost.aggregate_id
    )
    if host_ids is not None:
        agg_stmt = agg_stmt.where(AggregateHost.host_name.in_(names))
    aggregates: dict[str, list[Aggregate]] = {}
    for host_name, agg in (await session.execute(agg_stmt)).all():
        aggregates.setdefault(host_name, []).append(agg)
    alloc_stmt = select(Allocation.host_id, Allocation.instance_uuid)
    if host_ids is not None:
        alloc_stmt = alloc_stmt.where(Allocation.host_id.in_(list(host_ids)))
    instances: dict[int, set[str]] = {}
    for host_id, uuid in (await session.execute(alloc_stmt)).all():
        instances.setdefault(host_id, set()).add(uuid)
    cutoff = now - timedelta(seconds=up_seconds)
    return [
        _state(h, aggregates.get(h.name, []), instances.get(h.id, set()), cutoff) for h in hosts
    ]


def _state(host: Host, aggs: list[Aggregate], instances: set[str], cutoff: datetime) -> HostState:
    az = host.az
    metadata: dict[str, set[str]] = {}
    for agg in sorted(aggs, key=lambda a: a.id):
        if agg.availability_zone:
            az = agg.availability_zone
        for key, value in (agg.extra or {}).items():
            metadata.setdefault(str(key), set()).add(str(value))
    return HostState(
        uuid=host.uuid,
        name=host.name,
        region=host.region,
        az=az,
        rack=host.rack,
        kind="baremetal" if host.kind == "baremetal" else "vm",
        vcpus=host.vcpus,
        memory_mb=host.memory_mb,
        disk_gb=host.local_gb,
        resource_class=host.resource_class,
        vcpus_used=host.vcpus_used,
        memory_mb_used=host.memory_mb_used,
        disk_gb_used=host.local_gb_used,
        cpu_allocation_ratio=host.cpu_allocation_ratio,
        ram_allocation_ratio=host.ram_allocation_ratio,
        disk_allocation_ratio=host.disk_allocation_ratio,
        aggregate_metadata=metadata,
        aggregate_names={a.name for a in aggs},
        enabled=host.status == "enabled",
        up=host.last_seen >= cutoff and not host.forced_down,
        owner_project=host.owner_project,
        instances=set(instances),
    )


class HostStateCache:
    """Keeps a scheduler's index in step with the ``hosts`` table."""

    def __init__(
        self, db: Database, scheduler: Scheduler, up_seconds: float = DEFAULT_UP_SECONDS
    ) -> None:
        self.db = db
        self.scheduler = scheduler
        self.up_seconds = up_seconds
        self._loaded_at: float | None = None

    def age(self) -> float:
        """Seconds since the last full reload (infinite before the first)."""
        if self._loaded_at is None:
            return float("inf")
        return time.monotonic() - self._loaded_at

    async def refresh(self) -> int:
        """Reload every host; hosts gone from the table leave the index. Returns the count."""
        started = time.monotonic()
        async with self.db.session() as session:
            states = await load_host_states(session, up_seconds=self.up_seconds)
        self._loaded_at = started
        # From here on no await: the swap is atomic for the other handlers of this loop.
        alive = {s.uuid for s in states}
        index = self.scheduler.index
        for host in list(index):
            if host.uuid not in alive:
                index.remove(host.uuid)
        self._forget_claims(states)
        for state in states:
            index.upsert(state)
        return len(states)

    async def refresh_hosts(self, host_ids: Collection[int]) -> None:
        """Reload some hosts (after a lost claim race or a release)."""
        if not host_ids:
            return
        async with self.db.session() as session:
            states = await load_host_states(session, host_ids=host_ids, up_seconds=self.up_seconds)
        self._forget_claims(states)
        for state in states:
            self.scheduler.index.upsert(state)

    def _forget_claims(self, states: list[HostState]) -> None:
        # Database usage replaces memory usage, so in-memory claims on these hosts must
        # not be released again later (that would count them off twice).
        hosts = {s.uuid for s in states}
        for host in states:
            old = self.scheduler.index.get(host.uuid)
            if old is None:
                continue
            for uuid in list(old.instances):
                claim = self.scheduler.claim_of(uuid)
                if claim is not None and claim.host_uuid in hosts:
                    self.scheduler.release(uuid)
