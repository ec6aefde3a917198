"""Who gets the SQLite writer gate next: an API request's writes before the background
roles' (a create's INSERT no longer queues behind several scheduler passes), but never
more than ``URGENT_RUN`` of them in a row while a background writer waits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from sqlalchemy import Integer, String, insert
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from stockyard.db import sqlite_gate
from stockyard.db.base import Database
from stockyard.db.sqlite_gate import URGENT_RUN, WriterGate, gate_for

# A safety net against hangs only; nothing here is timed.
DEADLINE = 60.0


class _Base(DeclarativeBase):
    pass


class Entry(_Base):
    __tablename__ = "entry"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    label: Mapped[str] = mapped_column(String(32))


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path}/order.db")
    async with database.engine.begin() as conn:
        await conn.run_sync(_Base.metadata.create_all)
    try:
        yield database
    finally:
        await database.dispose()


async def _until(check: Callable[[], bool]) -> None:
    async with asyncio.timeout(DEADLINE):
        while not check():  # noqa: ASYNC110 (a queue length: nothing to wait on)
            await asyncio.sleep(0.01)


async def _writes_in_order(db: Database, queue: list[tuple[str, bool]]) -> list[str]:
    """Hold the gate, queue one writer per ``(label, urgent)`` in that order, let go:
    the order in which their writes landed."""
    gate: WriterGate = gate_for(db.url)
    landed: list[str] = []
    release = asyncio.Event()

    async def holder() -> None:
        async with db.session() as s:
            await s.execute(insert(Entry).values(label="holder"))
            await release.wait()

    async def writer(label: str) -> None:
        async with db.session() as s:
            await s.execute(insert(Entry).values(label=label))
            landed.append(label)

    async def start(label: str, urgent: bool) -> asyncio.Task[None]:
        before = sum(gate.waiting)
        if urgent:
            with sqlite_gate.urgent():  # the task copies the context as it is now
                task = asyncio.create_task(writer(label))
        else:
            task = asyncio.create_task(writer(label))
        await _until(lambda: sum(gate.waiting) == before + 1)
        return task

    held = asyncio.create_task(holder())
    await _until(lambda: gate.locked)
    tasks = [await start(label, urgent) for label, urgent in queue]
    release.set()
    async with asyncio.timeout(DEADLINE):
        await asyncio.gather(held, *tasks)
    return landed


async def test_api_writes_go_before_background_writers_queued_earlier(db: Database) -> None:
    queue = [("bg1", False), ("bg2", False), ("api1", True), ("api2", True)]
    assert await _writes_in_order(db, queue) == ["api1", "api2", "bg1", "bg2"]


async def test_a_waiting_background_writer_is_not_starved(db: Database) -> None:
    urgent = [(f"api{i}", True) for i in range(URGENT_RUN + 2)]
    landed = await _writes_in_order(db, [("bg", False), *urgent])
    assert landed == [*(f"api{i}" for i in range(URGENT_RUN)), "bg", f"api{URGENT_RUN}",
                      f"api{URGENT_RUN + 1}"]  # fmt: skip


async def _queued(lock: sqlite_gate._TwoClassLock, urgent: bool) -> asyncio.Task[None]:
    before = sum(lock.waiting)
    task = asyncio.create_task(lock.acquire(urgent))
    await _until(lambda: sum(lock.waiting) == before + 1)
    return task


async def test_a_waiter_cancelled_in_the_queue_is_skipped() -> None:
    lock = sqlite_gate._TwoClassLock(URGENT_RUN)
    await lock.acquire(False)
    gone = await _queued(lock, True)
    nxt = await _queued(lock, False)
    gone.cancel()
    await asyncio.gather(gone, return_exceptions=True)
    lock.release()
    async with asyncio.timeout(DEADLINE):
        await nxt
    assert lock.locked() and lock.waiting == (0, 0)
    lock.release()
    assert not lock.locked()


async def test_a_waiter_cancelled_as_it_was_handed_the_lock_passes_it_on() -> None:
    lock = sqlite_gate._TwoClassLock(URGENT_RUN)
    await lock.acquire(False)
    granted = await _queued(lock, True)
    nxt = await _queued(lock, False)
    lock.release()  # hands over to ``granted``, which has not run yet
    granted.cancel()
    results = await asyncio.gather(granted, return_exceptions=True)
    assert isinstance(results[0], asyncio.CancelledError)
    async with asyncio.timeout(DEADLINE):
        await nxt
    lock.release()
    assert not lock.locked()


async def test_urgent_is_only_the_requests_context() -> None:
    seen: list[bool] = []

    async def probe() -> None:
        seen.append(sqlite_gate._URGENT.get())

    with sqlite_gate.urgent():
        await probe()
    await probe()
    assert seen == [True, False]
