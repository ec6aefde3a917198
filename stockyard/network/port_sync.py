"""Which servers' hosts must re-apply their ports (rules, groups, addresses).

A change that alters what a host enforces bumps ``Instance.ports_rev`` of every server
it concerns, in the change's own transaction; the conductor's port sync sends
``update_ports`` until ``ports_synced_rev`` catches up. The database holds the debt, so
a crash between the change and the op loses nothing: the next pass sends it. Bumps
coalesce: ten rule changes before a pass cost one op per server. A membership change
bumps the group's peers (the servers whose remote-group rules name it) one step later:
it is queued in its transaction and the port sync's pass bumps them in its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import case, delete, false, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.db.models import (
    Instance,
    Port,
    PortSecurityGroup,
    SecurityGroupMemberChange,
    SecurityGroupRule,
)


async def _bump(session: AsyncSession, uuids: set[str], clear_announce: Iterable[str] = ()) -> None:
    uuids.discard("")
    if not uuids:
        return
    # ``updated_at`` is kept: a peer's revision is bookkeeping, not a change of the server
    # (Nova keeps its network info apart from the instance), and the power sync reads
    # ``updated_at`` to tell a host report taken before the server changed.
    values: dict[str, Any] = {
        "ports_rev": Instance.ports_rev + 1,
        "updated_at": Instance.updated_at,
    }
    announced = sorted(set(clear_announce))
    if announced:
        values["ports_announce"] = case(
            (Instance.uuid.in_(announced), false()), else_=Instance.ports_announce
        )
    await session.execute(
        update(Instance)
        .where(Instance.uuid.in_(sorted(uuids)), Instance.deleted.is_(False))
        .values(values)
        .execution_options(synchronize_session=False)
    )


async def _devices_in_groups(session: AsyncSession, group_ids: set[str]) -> set[str]:
    if not group_ids:
        return set()
    rows = await session.scalars(
        select(Port.device_id)
        .join(PortSecurityGroup, PortSecurityGroup.port_id == Port.id)
        .where(PortSecurityGroup.security_group_id.in_(group_ids), Port.device_id != "")
    )
    return set(rows)


async def _referencing(session: AsyncSession, group_ids: set[str]) -> set[str]:
    """Groups with a rule whose remote group is one of ``group_ids``."""
    if not group_ids:
        return set()
    return set(
        await session.scalars(
            select(SecurityGroupRule.security_group_id).where(
                SecurityGroupRule.remote_group_id.in_(group_ids)
            )
        )
    )


async def groups_changed(session: AsyncSession, group_ids: Iterable[str]) -> None:
    """A rule of these groups was added or removed: their members re-apply."""
    await _bump(session, await _devices_in_groups(session, set(group_ids)))


async def membership_changed(
    session: AsyncSession, group_ids: Iterable[str], devices: Iterable[str] = ()
) -> None:
    """Ports joined or left these groups (or changed addresses): ``devices`` (the ports'
    own servers) re-apply now; the servers whose rules name the groups as remote group
    are queued for the port sync (:func:`tell_queued_peers`), which bumps them in a
    transaction of its own: this one may hold its server's and host's rows, and locking
    every peer's row too deadlocked two such changes."""
    groups = sorted(set(group_ids))
    if groups:
        session.add_all(SecurityGroupMemberChange(security_group_id=g) for g in groups)
    await _bump(session, set(devices))


async def bump_peers(
    session: AsyncSession,
    group_ids: Iterable[str],
    devices: Iterable[str] = (),
    *,
    clear_announce: Iterable[str] = (),
) -> None:
    """Bump, now, the servers whose rules name these groups as remote group, and
    ``devices``, in one UPDATE (one lock order). For a transaction that holds no other
    server's row: the port sync's. ``clear_announce``: the servers whose announcement
    this is (each must be in ``devices``)."""
    peers = await _devices_in_groups(session, await _referencing(session, set(group_ids)))
    await _bump(session, peers | set(devices), clear_announce)


async def tell_queued_peers(session: AsyncSession, limit: int = 1000) -> int:
    """Drain up to ``limit`` queued membership changes: bump their groups' peers once.
    Returns the changes drained. Two conductors draining the same rows bump twice,
    which only costs an op (revisions coalesce)."""
    rows = (
        await session.execute(
            select(SecurityGroupMemberChange.id, SecurityGroupMemberChange.security_group_id)
            .order_by(SecurityGroupMemberChange.id)
            .limit(limit)
        )
    ).all()
    if not rows:
        return 0
    await bump_peers(session, {g for _, g in rows})
    await session.execute(
        delete(SecurityGroupMemberChange)
        .where(SecurityGroupMemberChange.id.in_([i for i, _ in rows]))
        .execution_options(synchronize_session=False)
    )
    return len(rows)


async def port_groups(session: AsyncSession, port_id: str) -> set[str]:
    return set(
        await session.scalars(
            select(PortSecurityGroup.security_group_id).where(PortSecurityGroup.port_id == port_id)
        )
    )
