"""run_in_transaction against real faults, and the error classification behind it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pymysql
import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.db.base import Database, make_engine
from stockyard.db.retry import is_retryable, run_in_transaction

meta = MetaData()
rows = Table(
    "rows",
    meta,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("n", Integer, nullable=False, default=0),
    Column("note", String(64), nullable=True),
)


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url)
    async with database.engine.begin() as conn:
        await conn.run_sync(meta.create_all)
        await conn.execute(insert(rows), [{"id": 1, "n": 0}, {"id": 2, "n": 0}])
    try:
        yield database
    finally:
        await database.dispose()


def _wrapped(orig: Exception) -> DBAPIError:
    return OperationalError("UPDATE ...", {}, orig)


@pytest.mark.parametrize(
    ("orig", "expected"),
    [
        (pymysql.err.OperationalError(1213, "Deadlock found"), True),
        (pymysql.err.OperationalError(1205, "Lock wait timeout exceeded"), True),
        (pymysql.err.OperationalError(2013, "Lost connection to server"), True),
        (pymysql.err.OperationalError(2006, "MySQL server has gone away"), True),
        (pymysql.err.IntegrityError(1062, "Duplicate entry"), False),
        (pymysql.err.ProgrammingError(1064, "syntax error"), False),
        (asyncpg.exceptions.SerializationError("could not serialize"), True),
        (asyncpg.exceptions.DeadlockDetectedError("deadlock detected"), True),
        (asyncpg.exceptions.AdminShutdownError("terminating connection"), True),
        (asyncpg.exceptions.ConnectionDoesNotExistError("connection closed"), True),
        (asyncpg.exceptions.UniqueViolationError("duplicate key"), False),
        (asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already"), True),
        (pymysql.err.OperationalError(1040, "Too many connections"), True),
        (ConnectionResetError("reset by peer"), True),
        (ValueError("not a database problem"), False),
    ],
)
def test_is_retryable(orig: Exception, expected: bool) -> None:
    assert is_retryable(_wrapped(orig)) is expected
    # Also when it arrives as the cause of a driver-adapted error.
    outer = RuntimeError("adapted")
    outer.__cause__ = orig
    assert is_retryable(outer) is expected


def test_integrity_and_plain_errors_are_not_retried() -> None:
    assert not is_retryable(IntegrityError("INSERT", {}, Exception("dup")))
    assert not is_retryable(KeyError("x"))


async def test_non_retryable_error_runs_once() -> None:
    calls = 0

    async def fn(_: AsyncSession) -> None:
        nonlocal calls
        calls += 1
        raise ValueError("boom")

    db = Database("sqlite+aiosqlite://")
    try:
        with pytest.raises(ValueError, match="boom"):
            await run_in_transaction(db, fn)
    finally:
        await db.dispose()
    assert calls == 1


async def test_gives_up_after_attempts() -> None:
    calls = 0

    async def fn(_: AsyncSession) -> None:
        nonlocal calls
        calls += 1
        raise _wrapped(pymysql.err.OperationalError(1213, "Deadlock found"))

    db = Database("sqlite+aiosqlite://")
    try:
        with pytest.raises(OperationalError):
            await run_in_transaction(db, fn, attempts=3)
    finally:
        await db.dispose()
    assert calls == 3


@pytest.mark.backend("postgresql")
async def test_terminated_backend_is_retried_and_writes_once(db: Database) -> None:
    """pg_terminate_backend mid-transaction: the function runs again and commits once."""
    calls = 0

    async def fn(session: AsyncSession) -> int:
        nonlocal calls
        calls += 1
        await session.execute(update(rows).where(rows.c.id == 1).values(n=rows.c.n + 1))
        if calls == 1:
            pid = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            async with db.engine.connect() as killer:
                await killer.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
                await killer.commit()
        return int((await session.execute(select(rows.c.n).where(rows.c.id == 1))).scalar_one())

    assert await run_in_transaction(db, fn) == 1
    assert calls == 2
    async with db.session() as s:
        assert (await s.execute(select(rows.c.n).where(rows.c.id == 1))).scalar_one() == 1
    # The pool hands out a live connection afterwards (pre-ping drops the dead one).
    for _ in range(3):
        async with db.session() as s:
            assert (await s.execute(text("SELECT 1"))).scalar_one() == 1


@pytest.mark.backend("postgresql", "mariadb")
async def test_session_survives_killed_idle_connection(db: Database) -> None:
    async with db.session() as s:
        if db.engine.dialect.name == "postgresql":
            pid = (await s.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        else:
            pid = (await s.execute(text("SELECT CONNECTION_ID()"))).scalar_one()
    # The connection now sits idle in the pool; kill it from another engine.
    killer = make_engine(db.url)
    try:
        async with killer.connect() as other:
            if db.engine.dialect.name == "postgresql":
                await other.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
            else:
                await other.execute(text(f"KILL {int(pid)}"))
            await other.commit()
    finally:
        await killer.dispose()
    async with db.session() as s:
        assert (await s.execute(text("SELECT 1"))).scalar_one() == 1


@pytest.mark.backend("mariadb", "postgresql")
async def test_real_deadlock_is_retried_and_both_commit(db: Database) -> None:
    """Two transactions lock rows 1,2 and 2,1: the victim is re-run, both finish."""
    both_hold_first = asyncio.Barrier(2)
    calls = {"a": 0, "b": 0}

    def worker(name: str, first: int, second: int):  # type: ignore[no-untyped-def]
        async def fn(session: AsyncSession) -> None:
            calls[name] += 1
            await session.execute(
                update(rows).where(rows.c.id == first).values(n=rows.c.n + 1, note=name)
            )
            if calls[name] == 1:
                await asyncio.wait_for(both_hold_first.wait(), 10)
            await session.execute(
                update(rows).where(rows.c.id == second).values(n=rows.c.n + 1, note=name)
            )

        return fn

    await asyncio.gather(
        run_in_transaction(db, worker("a", 1, 2)),
        run_in_transaction(db, worker("b", 2, 1)),
    )
    async with db.session() as s:
        counts = dict((await s.execute(select(rows.c.id, rows.c.n))).all())
    assert counts == {1: 2, 2: 2}
    assert calls["a"] + calls["b"] == 3  # exactly one victim, re-run once


@pytest.mark.backend("postgresql", "mariadb")
async def test_a_full_server_is_waited_out_not_failed(db: Database) -> None:
    """The server refuses a connection (every slot taken): the transaction runs again once
    a slot is free and commits once. A user limited to one connection stands for a server
    whose max_connections every process's pool has used up."""
    admin = make_engine(db.url)
    user = f"sy_full_{uuid.uuid4().hex[:8]}"
    pg = db.engine.dialect.name == "postgresql"
    grants = (
        [f"CREATE ROLE {user} LOGIN CONNECTION LIMIT 1", f"GRANT ALL ON TABLE rows TO {user}"]
        if pg
        else [
            f"CREATE USER '{user}'@'%' WITH MAX_USER_CONNECTIONS 1",
            f"GRANT ALL ON `{make_url(db.url).database}`.* TO '{user}'@'%'",
        ]
    )
    async with admin.begin() as conn:
        for statement in grants:
            await conn.execute(text(statement))
    limited = Database(make_url(db.url).set(username=user).render_as_string(False), pool_size=1)
    holder = make_engine(limited.url)
    held = await holder.connect()
    calls = 0

    async def fn(session: AsyncSession) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:  # the first attempt was refused: the other process lets go
            await held.close()
            await holder.dispose()
        await session.execute(update(rows).where(rows.c.id == 1).values(n=rows.c.n + 1))

    try:
        await run_in_transaction(limited, fn)
        # The server frees the slot as the other backend exits: maybe one attempt later.
        assert calls >= 2
        async with db.session() as s:
            assert (await s.execute(select(rows.c.n).where(rows.c.id == 1))).scalar_one() == 1
    finally:
        await held.close()
        await holder.dispose()
        await limited.dispose()
        async with admin.begin() as conn:
            if pg:
                await conn.execute(text(f"DROP OWNED BY {user}"))
                await conn.execute(text(f"DROP ROLE {user}"))
            else:
                await conn.execute(text(f"DROP USER '{user}'@'%'"))
        await admin.dispose()
