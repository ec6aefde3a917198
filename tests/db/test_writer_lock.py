"""The SQLite writer gate: concurrent writers all land, readers and nested sessions
never wait on it (``asyncio.wait_for`` deadlines are only a safety net against hangs)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import Integer, String, event, func, insert, select, text, update
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from stockyard.db.base import Database
from stockyard.db.sqlite_gate import gate_for

# Generous: the machine is shared and slow; a hang, not slowness, is what fails.
DEADLINE = 60.0


class _Base(DeclarativeBase):
    pass


class Counter(_Base):
    __tablename__ = "counter"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    n: Mapped[int] = mapped_column(Integer, default=0)


class Item(_Base):
    __tablename__ = "item"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64))


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path}/gate.db")
    async with database.engine.begin() as conn:
        await conn.run_sync(_Base.metadata.create_all)
        await conn.execute(insert(Counter).values(id=1, n=0))
    try:
        yield database
    finally:
        await database.dispose()


async def _count(db: Database) -> tuple[int, int]:
    async with db.session() as s:
        counter = await s.scalar(select(Counter.n).where(Counter.id == 1))
        items = await s.scalar(select(func.count()).select_from(Item))
    return int(counter or 0), int(items or 0)


async def test_concurrent_writers_all_succeed_with_exact_counts(db: Database) -> None:
    """200 tasks mixing the three write styles the code uses; none fails, none is lost."""

    async def orm_read_modify_write(i: int) -> None:
        # Read-then-write with FOR UPDATE intent: the gate makes it a real lock on SQLite.
        async with db.session() as s:
            row = await s.get(Counter, 1, with_for_update=True)
            assert row is not None
            row.n += 1
            s.add(Item(name=f"orm-{i}"))

    async def core_update(i: int) -> None:
        async with db.session() as s:
            await s.execute(update(Counter).where(Counter.id == 1).values(n=Counter.n + 1))
            await s.execute(insert(Item).values(name=f"core-{i}"))

    async def route_style(i: int) -> None:
        # What API routes do: a bare session, reads, then an explicit commit.
        async with db.sessionmaker() as s:
            await s.scalar(select(Counter.n).where(Counter.id == 1))
            await s.execute(text("UPDATE counter SET n = n + 1 WHERE id = 1"))
            s.add(Item(name=f"route-{i}"))
            await s.commit()

    styles = (orm_read_modify_write, core_update, route_style)
    jobs = [styles[i % 3](i) for i in range(200)]
    await asyncio.wait_for(asyncio.gather(*jobs), DEADLINE)

    assert await _count(db) == (200, 200)
    assert not gate_for(db.url).locked


async def test_reader_does_not_queue_behind_a_writer(db: Database) -> None:
    """A transaction that wrote and is still open does not hold up read-only sessions."""
    wrote = asyncio.Event()
    finish = asyncio.Event()

    async def slow_writer() -> None:
        async with db.session() as s:
            await s.execute(update(Counter).where(Counter.id == 1).values(n=41))
            wrote.set()
            await finish.wait()
            await s.execute(update(Counter).where(Counter.id == 1).values(n=Counter.n + 1))

    writer = asyncio.create_task(slow_writer())
    await asyncio.wait_for(wrote.wait(), DEADLINE)
    assert gate_for(db.url).locked
    # WAL: the reader sees the last committed value while the writer is mid-transaction.
    assert await asyncio.wait_for(_count(db), DEADLINE) == (0, 0)
    finish.set()
    await asyncio.wait_for(writer, DEADLINE)
    assert await _count(db) == (42, 0)


async def test_failed_transaction_gives_the_gate_back(db: Database) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        async with db.session() as s:
            await s.execute(update(Counter).where(Counter.id == 1).values(n=99))
            raise RuntimeError("boom")
    assert not gate_for(db.url).locked

    async def bump() -> None:
        async with db.session() as s:
            await s.execute(update(Counter).where(Counter.id == 1).values(n=Counter.n + 1))

    await asyncio.wait_for(asyncio.gather(*(bump() for _ in range(5))), DEADLINE)
    assert await _count(db) == (5, 0)


async def test_nested_sessions_in_one_task_do_not_deadlock(db: Database) -> None:
    """Patterns of the code base: a session opened while another is held in the same
    coroutine (image upload's revert, the API's auth check inside a route's session)."""
    async with db.sessionmaker() as outer:
        # Outer has read (holds a connection); inner writes and commits; outer writes.
        await outer.scalar(select(Counter.n).where(Counter.id == 1))
        async with db.session() as inner:
            await inner.execute(insert(Item).values(name="inner"))
        outer.add(Item(name="outer"))
        await asyncio.wait_for(outer.commit(), DEADLINE)

    async with db.session() as outer:
        # Outer holds the gate; a read-only inner session in the same task must not wait.
        await outer.execute(update(Counter).where(Counter.id == 1).values(n=7))
        inner_read = asyncio.wait_for(_count(db), DEADLINE)
        assert await inner_read == (0, 2)

    assert await _count(db) == (7, 2)
    assert not gate_for(db.url).locked


async def test_second_database_object_on_the_same_file_shares_the_gate(
    db: Database, tmp_path: Path
) -> None:
    """Two engines on one file (e.g. roles of ``stockyard up``) queue on one gate."""
    other = Database(db.url)
    try:

        async def bump(database: Database) -> None:
            async with database.session() as s:
                row = await s.get(Counter, 1, with_for_update=True)
                assert row is not None
                row.n += 1

        jobs = [bump(db if i % 2 else other) for i in range(60)]
        await asyncio.wait_for(asyncio.gather(*jobs), DEADLINE)
    finally:
        await other.dispose()
    assert await _count(db) == (60, 0)


async def test_listener_added_while_a_writer_waits_does_not_break_it(db: Database) -> None:
    """Roles register engine listeners at run time (commit tracking); a writer queued
    at the gate meanwhile must still run its statement."""
    wrote, finish = asyncio.Event(), asyncio.Event()

    async def holder() -> None:
        async with db.session() as s:
            await s.execute(update(Counter).where(Counter.id == 1).values(n=Counter.n + 1))
            wrote.set()
            await finish.wait()

    async def waiter() -> None:
        async with db.session() as s:
            await s.execute(update(Counter).where(Counter.id == 1).values(n=Counter.n + 1))

    first = asyncio.create_task(holder())
    await asyncio.wait_for(wrote.wait(), DEADLINE)
    second = asyncio.create_task(waiter())
    await asyncio.sleep(0.05)  # let it reach the gate

    def noop(*_args: object) -> None:
        return None

    event.listen(db.engine.sync_engine, "before_cursor_execute", noop)
    finish.set()
    await asyncio.wait_for(asyncio.gather(first, second), DEADLINE)
    assert await _count(db) == (2, 0)
