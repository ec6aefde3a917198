"""Capacity claims and group locks in the database: the truth behind the scheduler.

The in-memory scheduler proposes; these conditional UPDATEs decide. Two conductors
(or two processes) racing for the last slot of a host both run the same UPDATE and
exactly one sees ``rowcount == 1``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, select, union, update
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.db.base import execute_count
from stockyard.db.models import Allocation, Host, Instance, ServerGroup, ServerGroupMember


@dataclass(frozen=True, slots=True)
class ClaimRequest:
    """Capacity one instance takes on one host (see :func:`claim`)."""

    host_id: int
    instance_uuid: str
    vcpus: int
    memory_mb: int
    disk_gb: int
    whole_node: bool = False


async def claim_many(session: AsyncSession, requests: Sequence[ClaimRequest]) -> set[str]:
    """:func:`claim` for a burst: the instances whose claim succeeded.

    The instances' existing allocations are read in one query and the new ones written
    in one flush; the host UPDATEs (one per instance, each conditional as in
    :func:`claim`) run in host id order, so two placers claiming overlapping hosts lock
    them in the same order and do not deadlock each other.
    """
    uuids = [r.instance_uuid for r in requests]
    existing = {
        a.instance_uuid: a
        for a in (
            await session.execute(select(Allocation).where(Allocation.instance_uuid.in_(uuids)))
        ).scalars()
    }
    won: set[str] = set()
    # Added after the UPDATEs: one flush (a multi-row INSERT), not one per statement.
    new: list[Allocation] = []
    for req in sorted(requests, key=lambda r: (r.host_id, r.instance_uuid)):
        held = existing.get(req.instance_uuid)
        if held is not None:
            if held.host_id == req.host_id:
                won.add(req.instance_uuid)
                continue
            await release(session, req.instance_uuid)
        if await _take(session, req):
            won.add(req.instance_uuid)
            new.append(
                Allocation(
                    instance_uuid=req.instance_uuid, host_id=req.host_id, vcpus=req.vcpus,
                    memory_mb=req.memory_mb, disk_gb=req.disk_gb,
                )
            )  # fmt: skip
    session.add_all(new)
    await session.flush()
    return won


async def _take(session: AsyncSession, req: ClaimRequest) -> bool:
    """The conditional UPDATE of :func:`claim`: True if the host had room."""
    conditions = [
        Host.id == req.host_id,
        Host.status == "enabled",
        Host.forced_down.is_(False),
        Host.vcpus_used + req.vcpus <= Host.vcpus * Host.cpu_allocation_ratio,
        Host.memory_mb_used + req.memory_mb <= Host.memory_mb * Host.ram_allocation_ratio,
        Host.local_gb_used + req.disk_gb <= Host.local_gb * Host.disk_allocation_ratio,
    ]
    if req.whole_node:
        conditions.append(Host.running_vms == 0)
    stmt = (
        update(Host)
        .where(*conditions)
        .values(
            vcpus_used=Host.vcpus_used + req.vcpus,
            memory_mb_used=Host.memory_mb_used + req.memory_mb,
            local_gb_used=Host.local_gb_used + req.disk_gb,
            running_vms=Host.running_vms + 1,
        )
        .execution_options(synchronize_session=False)
    )
    return await execute_count(session, stmt) == 1


async def claim(
    session: AsyncSession,
    host_id: int,
    instance_uuid: str,
    vcpus: int,
    memory_mb: int,
    disk_gb: int,
    *,
    whole_node: bool = False,
) -> bool:
    """Take capacity on ``host_id`` for the instance; False if it does not fit any more.

    Idempotent: an instance that already holds an allocation on this host keeps it (a
    resumed build); one holding an allocation elsewhere gives that back first.
    ``whole_node`` (baremetal) only succeeds on a node with nothing on it.
    """
    existing = await session.get(Allocation, instance_uuid)
    if existing is not None:
        if existing.host_id == host_id:
            return True
        await release(session, instance_uuid)
    req = ClaimRequest(host_id, instance_uuid, vcpus, memory_mb, disk_gb, whole_node)
    if not await _take(session, req):
        return False
    session.add(
        Allocation(
            instance_uuid=instance_uuid,
            host_id=host_id,
            vcpus=vcpus,
            memory_mb=memory_mb,
            disk_gb=disk_gb,
        )
    )
    await session.flush()
    return True


async def release(session: AsyncSession, instance_uuid: str) -> Allocation | None:
    """Give back the instance's capacity; returns the freed allocation, or None.

    Only the caller whose DELETE removed the row decrements the host, so a release run
    twice (duplicate results, two conductors) frees the capacity exactly once.
    """
    alloc = (
        await session.execute(select(Allocation).where(Allocation.instance_uuid == instance_uuid))
    ).scalar_one_or_none()
    if alloc is None:
        return None
    values = (alloc.host_id, alloc.vcpus, alloc.memory_mb, alloc.disk_gb)
    session.expunge(alloc)
    stmt = delete(Allocation).where(Allocation.instance_uuid == instance_uuid)
    if await execute_count(session, stmt.execution_options(synchronize_session=False)) != 1:
        return None
    host_id, vcpus, memory_mb, disk_gb = values
    await execute_count(
        session,
        update(Host)
        .where(Host.id == host_id)
        .values(
            vcpus_used=Host.vcpus_used - vcpus,
            memory_mb_used=Host.memory_mb_used - memory_mb,
            local_gb_used=Host.local_gb_used - disk_gb,
            running_vms=Host.running_vms - 1,
        )
        .execution_options(synchronize_session=False),
    )
    return alloc


class GroupLockLost(Exception):
    """Another conductor changed the group since we read it: retry the placement."""


async def lock_group(session: AsyncSession, group_uuid: str) -> ServerGroup | None:
    """Take the group's placement lock for this transaction (compare-and-swap).

    Bumps ``generation`` only if nobody else did since we read it; on PostgreSQL/MySQL
    the UPDATE also holds the row lock until commit, so a second placer waits and then
    fails the compare. Returns the group, None if it does not exist; raises
    :class:`GroupLockLost` when the compare fails.
    """
    group = (
        await session.execute(select(ServerGroup).where(ServerGroup.uuid == group_uuid))
    ).scalar_one_or_none()
    if group is None:
        return None
    seen = group.generation
    stmt = (
        update(ServerGroup)
        .where(ServerGroup.id == group.id, ServerGroup.generation == seen)
        .values(generation=seen + 1)
        .execution_options(synchronize_session=False)
    )
    if await execute_count(session, stmt) != 1:
        raise GroupLockLost(group_uuid)
    group.generation = seen + 1
    return group


async def group_member_hosts(
    session: AsyncSession, group: ServerGroup, exclude: Collection[str]
) -> dict[str, int]:
    """Host name -> number of the group's placed, live members (read under the lock)."""
    # Two index lookups joined by UNION: an OR of the two made every database scan
    # the whole instances table (62 ms p50 at 100,000 instances, under the lock).
    members = union(
        select(ServerGroupMember.instance_uuid.label("uuid")).where(
            ServerGroupMember.group_id == group.id
        ),
        select(Instance.uuid.label("uuid")).where(Instance.group_uuid == group.uuid),
    ).subquery()
    stmt = (
        select(Instance.host, func.count())
        .join(members, members.c.uuid == Instance.uuid)
        .where(
            Instance.host.is_not(None),
            Instance.deleted.is_(False),
            Instance.uuid.not_in(list(exclude)),
        )
        .group_by(Instance.host)
    )
    return {str(host): int(n) for host, n in (await session.execute(stmt)).all()}
