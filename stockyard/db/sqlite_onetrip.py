"""SQLite statements with as few trips to aiosqlite's thread as can be: one, or none.

SQLAlchemy's aiosqlite adapter makes a cursor (a trip to the connection's thread),
executes (a trip), fetches the rows (a trip) and closes the cursor (a trip). Each trip
is a hand-off to the thread and back through the event loop's self-pipe, and on a busy
loop each one waits for a whole turn of the loop. On SQLite that wait lands where it
costs most: the writer gate (:mod:`stockyard.db.sqlite_gate`) is held from a
transaction's first write to its commit, so every writer queues behind every trip of the
holder. Measured with ``bench/bench_baremetal.py --nodes 200``: the gate was held nearly
the whole run, about 2.7 ms per statement, of which well under a millisecond was SQLite.

:class:`OneTripCursor` runs cursor, execute, fetch and close as one function in the
connection's thread and keeps what SQLAlchemy reads afterwards (rows, description,
rowcount, lastrowid). The statement, its parameters and its errors are exactly those of
the stock adapter; server-side (streaming) cursors keep the stock class.

No trip at all while a transaction holds the gate *and* SQLite's write lock (it has
written): its statements run in the event loop's thread. They cannot wait for a lock
any more (WAL readers never wait; the writer already holds the only write lock), so
what they cost is the page work itself, well under a millisecond for the statements of
a placement or a state change, against about 3 ms a trip measured on two busy cores
(1 ms to the thread, 1 ms back to the loop). Everything that can wait stays in the
thread: reads outside a write transaction, the write that takes the lock (another
process may hold it: the busy timeout) and COMMIT (a WAL checkpoint syncs the disk).
The connection is only ever used by one of the two threads at a time: the adapter's
mutex admits one statement per connection, and an inline one runs with no trip open.
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Callable
from typing import Any

from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
)
from sqlalchemy.engine import Engine
from sqlalchemy.util import EMPTY_DICT

from stockyard.db.sqlite_gate import holds_write_lock, note_write, opens_write_transaction

_Outcome = tuple[Any, list[Any], int, int | None]


def _run(conn: sqlite3.Connection, operation: str, parameters: Any) -> _Outcome:
    """In the connection's thread: the whole life of a DBAPI cursor."""
    cursor = conn.cursor()
    try:
        if parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


def _run_many(conn: sqlite3.Connection, operation: str, seq_of_parameters: Any) -> _Outcome:
    cursor = conn.cursor()
    try:
        cursor.executemany(operation, seq_of_parameters)
        return cursor.description, [], cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """A buffered cursor whose every statement is a single trip to the thread."""

    __slots__ = ("_arraysize", "_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: Any) -> None:
        # No aiosqlite cursor is made here (the stock adapter spends a trip on it): one
        # is made, used and closed inside each statement's trip.
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None
        self._arraysize = 1

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int:
        return self._lastrowid  # type: ignore[return-value]

    @property
    def arraysize(self) -> int:
        return self._arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._arraysize = value

    async def _async_soft_close(self) -> None:
        return None  # the DBAPI cursor was closed in its trip; the rows stay

    def close(self) -> None:
        self._rows.clear()

    def _keep(self, outcome: _Outcome) -> None:
        self._description, rows, self._rowcount, self._lastrowid = outcome
        self._rows = collections.deque(rows)

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        async with self._adapt_connection._execute_mutex:
            await self._go(_run, operation, parameters)
        return self

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> Any:
        async with self._adapt_connection._execute_mutex:
            await self._go(_run_many, operation, seq_of_parameters)
        return self

    async def _go(
        self, run: Callable[[sqlite3.Connection, str, Any], _Outcome], op: str, params: Any
    ) -> None:
        adapted, conn = self._adapt_connection, self._connection
        if holds_write_lock(adapted):
            # Inline, in the loop's thread: see the module doc.
            self._keep(run(conn._conn, op, params))
            return
        self._keep(await conn._execute(run, conn._conn, op, params))
        if opens_write_transaction(op):
            note_write(adapted)


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    """The stock adapter connection, with :class:`OneTripCursor` as its cursor."""

    __slots__ = ()
    _cursor_cls = OneTripCursor


def use_one_trip_cursors(engine: Engine) -> None:
    """Make the aiosqlite connections ``engine`` opens use :class:`OneTripCursor`."""
    dbapi: Any = engine.dialect.loaded_dbapi
    stock_connect = dbapi.connect

    def connect(*args: Any, **kwargs: Any) -> Any:
        adapted = stock_connect(*args, **kwargs)
        # Same slots and state, other cursor class (the adapter has no hook for it).
        adapted.__class__ = OneTripConnection
        return adapted

    dbapi.connect = connect
