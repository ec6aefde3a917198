"""The per-project quota lock every quota check (compute, network, volume) takes.

PostgreSQL and MariaDB: a ``SELECT ... FOR UPDATE`` of the project's ``project_locks``
row, created on first use. SQLite has no row locks: an in-process lock per project (one
table per event loop) serialises the checkers, and the insert opens the write
transaction so the counts read next are current.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

from sqlalchemy import event, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from stockyard.db import sqlite_gate
from stockyard.db.models import ProjectLock

_HELD_KEY = "stockyard.quota_locks"
# One lock table per event loop: an asyncio.Lock must not be shared between loops.
_LOOP_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


def _loop_lock(project_id: str) -> asyncio.Lock:
    table = _LOOP_LOCKS.setdefault(asyncio.get_running_loop(), {})
    lock = table.get(project_id)
    if lock is None:
        lock = table[project_id] = asyncio.Lock()
    return lock


def _release_on_end(session: AsyncSession) -> None:
    """Release the session's in-process locks when its outermost transaction ends."""
    sync: Session = session.sync_session
    if sync.info.get(_HELD_KEY + ".hooked"):
        return
    sync.info[_HELD_KEY + ".hooked"] = True

    @event.listens_for(sync, "after_transaction_end")
    def _end(sess: Session, trans: SessionTransaction) -> None:
        if trans.parent is not None:  # a savepoint or a nested scope: keep the lock
            return
        held: dict[str, asyncio.Lock] = sess.info.pop(_HELD_KEY, {})
        for lock in held.values():
            if lock.locked():
                lock.release()


async def lock_project(session: AsyncSession, project_id: str) -> None:
    """Hold the project's quota lock until the session's outermost transaction ends:
    the caller counts usage, checks limits and inserts its rows under it, so two
    requests of one project can't both take the last unit. Re-entrant per session."""
    held: dict[str, asyncio.Lock] = session.sync_session.info.setdefault(_HELD_KEY, {})
    if project_id in held:
        return
    conn = await session.connection()
    dialect = conn.dialect.name
    if dialect == "sqlite" and sqlite_gate.holds_gate(conn.sync_connection):
        # This transaction has written already, so it holds the file's writer gate: no
        # other checker can write (or commit) before it ends, which is all the lock
        # would give. Waiting for the lock instead deadlocked with a checker holding it
        # and waiting for the gate (a volume create that first made the default type).
        held[project_id] = asyncio.Lock()  # marker only
        _release_on_end(session)
    elif dialect == "sqlite":
        lock = _loop_lock(project_id)
        await lock.acquire()
        held[project_id] = lock
        _release_on_end(session)
    else:
        held[project_id] = asyncio.Lock()  # marker only: the row lock does the work
        _release_on_end(session)
    lock_row = (
        select(ProjectLock.project_id).where(ProjectLock.project_id == project_id).with_for_update()
    )
    if dialect == "sqlite":
        # The insert opens the write transaction, so the counts read next are not from a
        # snapshot older than the previous holder's commit. No SELECT ... FOR UPDATE
        # after it: SQLite has no row locks (it would lock nothing), the in-process lock
        # taken above is what serialises the checkers.
        await session.execute(_insert_lock_row(dialect, project_id))
        return
    if await session.scalar(lock_row) is not None:
        return  # the usual case: the row exists and is now ours
    # First check of this project: create the row, then lock it. (A separate connection
    # for the insert would need a second pooled connection per waiting request and can
    # exhaust the pool; the first-time insert race is short and ends with the row.)
    await session.execute(_insert_lock_row(dialect, project_id))
    await session.execute(lock_row)


def _insert_lock_row(dialect: str, project_id: str) -> Any:
    """An insert of the project's lock row that does nothing if it exists."""
    values = {"project_id": project_id, "generation": 0}
    if dialect == "postgresql":
        return pg_insert(ProjectLock).values(**values).on_conflict_do_nothing()
    if dialect == "sqlite":
        return sqlite_insert(ProjectLock).values(**values).on_conflict_do_nothing()
    return insert(ProjectLock).values(**values).prefix_with("IGNORE")
