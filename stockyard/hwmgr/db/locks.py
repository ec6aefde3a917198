"""Ironic-style node locks: a conditional UPDATE of ``reservation`` with a row-count check."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from sqlalchemy import CursorResult, or_, update

from stockyard.db.base import Database, utcnow
from stockyard.hwmgr.db.models import Node


class NodeLocked(Exception):
    """Another worker holds the node."""


async def try_lock(db: Database, node_uuid: str, owner: str, lease_seconds: float) -> bool:
    """Take the node if free or its lease expired; True when this owner now holds it."""
    now = utcnow()
    async with db.session() as session:
        result = await session.execute(
            update(Node)
            .where(
                Node.uuid == node_uuid,
                or_(Node.reservation.is_(None), Node.reserved_until < now),
            )
            .values(reservation=owner, reserved_until=now + timedelta(seconds=lease_seconds))
            .execution_options(synchronize_session=False)
        )
        assert isinstance(result, CursorResult)
        return result.rowcount == 1


async def renew(db: Database, node_uuid: str, owner: str, lease_seconds: float) -> bool:
    """Extend ``owner``'s lease on the node; False if it no longer holds it."""
    async with db.session() as session:
        result = await session.execute(
            update(Node)
            .where(Node.uuid == node_uuid, Node.reservation == owner)
            .values(reserved_until=utcnow() + timedelta(seconds=lease_seconds))
            .execution_options(synchronize_session=False)
        )
        assert isinstance(result, CursorResult)
        return result.rowcount == 1


async def unlock(db: Database, node_uuid: str, owner: str) -> None:
    async with db.session() as session:
        await session.execute(
            update(Node)
            .where(Node.uuid == node_uuid, Node.reservation == owner)
            .values(reservation=None, reserved_until=None)
            .execution_options(synchronize_session=False)
        )


async def clear_owner(db: Database, prefix: str) -> None:
    """Drop every lock this host held before a restart (Ironic does this on start-up)."""
    async with db.session() as session:
        await session.execute(
            update(Node)
            .where(Node.reservation.startswith(prefix, autoescape=True))
            .values(reservation=None, reserved_until=None)
            .execution_options(synchronize_session=False)
        )


async def acquire(
    db: Database, node_uuid: str, owner: str, lease_seconds: float, wait: float = 0.0
) -> None:
    """Take the node, waiting up to ``wait`` s for its holder; NodeLocked after that."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + wait
    delay = 0.05
    while not await try_lock(db, node_uuid, owner, lease_seconds):
        if loop.time() >= give_up:
            raise NodeLocked(f"node {node_uuid} is locked by another operation")
        # Contention is rare (the API refuses BMC calls on busy nodes): short back-off.
        await asyncio.sleep(delay)
        delay = min(delay * 2, 1.0)


@asynccontextmanager
async def node_lock(
    db: Database, node_uuid: str, owner: str, lease_seconds: float, wait: float = 0.0
) -> AsyncIterator[None]:
    """Hold the node for a short exclusive step; waits up to ``wait`` s, then NodeLocked."""
    await acquire(db, node_uuid, owner, lease_seconds, wait)
    try:
        yield
    finally:
        await unlock(db, node_uuid, owner)
