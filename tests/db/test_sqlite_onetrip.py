"""SQLite statements through the one-trip cursor: the same results and errors as the
stock aiosqlite adapter, and a write transaction's statements run in the loop's thread
only once it holds SQLite's write lock (anything that can wait stays in a thread)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import IntegrityError, OperationalError

from stockyard.db.base import Database


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path}/trip.db")

    @event.listens_for(database.engine.sync_engine, "connect")
    def _whoami(dbapi_conn: Any, _record: Any) -> None:
        # Which thread runs a statement: SQLite calls this in the thread that steps it.
        dbapi_conn.create_function("thread_id", 0, threading.get_ident)

    async with database.engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT UNIQUE)"))
    try:
        yield database
    finally:
        await database.dispose()


async def test_rows_counts_ids_and_errors_are_the_drivers(db: Database) -> None:
    async with db.engine.begin() as conn:
        first = await conn.execute(text("INSERT INTO t (v) VALUES ('a')"))
        assert (first.lastrowid, first.rowcount) == (1, 1)
        many = await conn.execute(text("INSERT INTO t (v) VALUES (:v)"), [{"v": "b"}, {"v": "c"}])
        assert many.rowcount == 2
        changed = await conn.execute(text("UPDATE t SET v = v || '!' WHERE id > 1"))
        assert changed.rowcount == 2
        rows = (await conn.execute(text("SELECT id, v FROM t ORDER BY id"))).all()
        assert [tuple(r) for r in rows] == [(1, "a"), (2, "b!"), (3, "c!")]
        keys = (await conn.execute(text("SELECT id AS ident, v FROM t LIMIT 1"))).keys()
        assert list(keys) == ["ident", "v"]
    with pytest.raises(IntegrityError) as clash:
        async with db.engine.begin() as conn:
            await conn.execute(text("INSERT INTO t (v) VALUES ('z')"))
            await conn.execute(text("INSERT INTO t (v) VALUES ('a')"))  # inline, then fails
    assert isinstance(clash.value.orig, sqlite3.IntegrityError)
    with pytest.raises(OperationalError, match="no such table"):
        async with db.engine.connect() as conn:
            await conn.execute(text("SELECT * FROM nowhere"))
    async with db.engine.connect() as conn:
        # The failed transaction rolled back whole, its first insert included.
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 3


async def test_statements_run_inline_only_while_the_write_lock_is_held(db: Database) -> None:
    loop_thread = threading.get_ident()

    async def where(conn: Any) -> int:
        return int((await conn.execute(text("SELECT thread_id()"))).scalar())

    async with db.engine.connect() as conn:
        assert await where(conn) != loop_thread  # a read outside a write: in a thread
    async with db.engine.begin() as conn:
        assert await where(conn) != loop_thread
        # The write that takes SQLite's lock may wait for another process: a thread too.
        await conn.execute(text("INSERT INTO t (v) VALUES (thread_id())"))
        assert await where(conn) == loop_thread
        await conn.execute(text("INSERT INTO t (v) VALUES (thread_id())"))
        writers = (await conn.execute(text("SELECT v FROM t ORDER BY id"))).scalars().all()
        assert writers[0] != str(loop_thread) and writers[1] == str(loop_thread)
    async with db.engine.connect() as conn:
        # The lock ended with the commit: the connection's next reads go to its thread.
        assert await where(conn) != loop_thread
    async with db.engine.begin() as conn:
        # DDL runs in autocommit under Python's sqlite3: no lock is left held after it.
        await conn.execute(text("CREATE TABLE u (id INTEGER PRIMARY KEY)"))
        assert await where(conn) != loop_thread
