"""One writing transaction at a time on a SQLite file, queued in the event loop.

SQLite allows a single writer. Without help, concurrent writers of one process each
hold a pooled connection and spin in SQLite's busy handler, which sleeps 1, 2, 5 ... 100
ms between retries: the lock is often free while everyone sleeps, and under load the
write latency is set by the sleep schedule, not by the work. The gate queues writers in
the event loop instead, and hands it over the moment the holder commits.

How a connection gets and gives the gate:

* it takes the gate right before its first write statement (``INSERT``/``UPDATE``/
  ``DELETE``/``REPLACE``/DDL, or a ``SELECT ... FOR UPDATE`` intent, which SQLite would
  otherwise ignore), so read-only sessions never queue;
* it gives it back after its transaction ends: DBAPI commit, rollback (including the
  pool's rollback-on-return) or close.

A connection is always checked out *before* it waits for the gate, so the holder never
waits for a pooled connection that a gate waiter holds.

Nested sessions: a task that holds the gate through one connection and writes through a
second one (a session opened inside another session's transaction) joins the gate
instead of queueing behind itself; SQLite's own lock then decides, exactly as it did
before the gate existed. A gate that cannot be had within the busy timeout is bypassed
with a warning, so a leaked holder degrades to SQLite's locking rather than a hang.

Who goes first: a transaction of an API request (:func:`urgent`) is handed the gate
before the background roles' waiters, but never more than ``URGENT_RUN`` times in a row
while one of those waits. A scheduler pass holds the gate for its whole transaction; in
plain FIFO order a create's single INSERT queued behind several of them (measured:
``bench_api`` 202 p99 1.2-1.4 s with bursts), and the API is where someone waits on
the answer. The bound keeps an API flood from starving placement.

Scope: one gate per database file and event loop. Other processes writing the same
file are still coordinated by SQLite's lock and busy timeout only.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import io
import logging
import os
import weakref
from collections.abc import Iterator
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util.concurrency import await_, in_greenlet

log = logging.getLogger(__name__)

# Seconds SQLite retries a locked database (other processes), and the longest wait for
# the in-process gate before falling back to SQLite's locking.
SQLITE_BUSY_TIMEOUT = 30.0

_DML_VERBS = ("INSERT", "UPDATE", "DELETE", "REPLACE")
_WRITE_VERBS = (*_DML_VERBS, "CREATE", "DROP", "ALTER")


# Urgent grants in a row while a background writer waits (see the module doc).
URGENT_RUN = 8

_URGENT: contextvars.ContextVar[bool] = contextvars.ContextVar("sqlite_gate_urgent", default=False)


@contextlib.contextmanager
def urgent() -> Iterator[None]:
    """Writes in this context (an API request) go before background writers."""
    token = _URGENT.set(True)
    try:
        yield
    finally:
        _URGENT.reset(token)


class _TwoClassLock:
    """An asyncio lock handed over in FIFO order within two classes, urgent first (at
    most ``run`` urgent hand-overs in a row while a background waiter waits)."""

    def __init__(self, run: int) -> None:
        self.run = run
        self._locked = False
        self._in_row = 0
        self._urgent: collections.deque[asyncio.Future[None]] = collections.deque()
        self._background: collections.deque[asyncio.Future[None]] = collections.deque()

    def locked(self) -> bool:
        return self._locked

    @property
    def waiting(self) -> tuple[int, int]:
        """Waiters queued: (urgent, background)."""
        return len(self._urgent), len(self._background)

    async def acquire(self, urgent: bool) -> None:
        if not self._locked:  # unlocked means nobody queued: release() hands over first
            self._locked = True
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._urgent if urgent else self._background
        queue.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed over as we were cancelled: pass it on
            else:
                with contextlib.suppress(ValueError):  # release() may have dropped it
                    queue.remove(waiter)
            raise

    def release(self) -> None:
        """Hand the lock to the next waiter (it stays locked), or unlock."""
        while True:
            if self._urgent and (not self._background or self._in_row < self.run):
                self._in_row += 1
                waiter = self._urgent.popleft()
            elif self._background:
                self._in_row = 0
                waiter = self._background.popleft()
            else:
                self._locked = False
                self._in_row = 0
                return
            if not waiter.done():
                waiter.set_result(None)
                return


class WriterGate:
    """A lock with holders keyed by DBAPI connection, re-entrant per task."""

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        self.loop = loop
        self.timeout = timeout
        self._lock = _TwoClassLock(URGENT_RUN)
        self._holders: set[int] = set()
        self._owner: asyncio.Task[Any] | None = None

    @property
    def locked(self) -> bool:
        """Whether some connection holds the gate."""
        return bool(self._holders)

    @property
    def waiting(self) -> tuple[int, int]:
        """Writers queued for the gate: (urgent, background)."""
        return self._lock.waiting

    async def acquire(self, key: int) -> bool:
        """Take the gate for connection ``key``; False if it was bypassed on timeout."""
        task = asyncio.current_task()
        if self._holders and task is not None and task is self._owner:
            # The same task writing through a second connection: waiting would be
            # waiting for ourselves.
            self._holders.add(key)
            return True
        try:
            async with asyncio.timeout(self.timeout):
                await self._lock.acquire(_URGENT.get())
        except TimeoutError:
            # Whoever holds it that long is stuck (a defect): say where, or nobody can.
            held_by = io.StringIO()
            if self._owner is not None:
                self._owner.print_stack(file=held_by)
            log.warning(
                "SQLite writer gate not free after %.0f s; writing without it. Held by: %s",
                self.timeout,
                held_by.getvalue() or "(no task)",
            )
            return False
        self._owner = task
        self._holders = {key}
        return True

    def release(self, key: int) -> None:
        """Give back connection ``key``'s hold (no-op if it holds nothing)."""
        if key not in self._holders:
            return
        self._holders.discard(key)
        if not self._holders:
            self._owner = None
            self._lock.release()


# Gates by event loop, then by database file: every engine of this process on one file
# shares a gate, and a loop that goes away takes its gates with it.
_GATES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, WriterGate]] = (
    weakref.WeakKeyDictionary()
)


def is_memory_url(url: str) -> bool:
    """Whether a SQLite URL names an in-memory database."""
    database = make_url(url).database
    return not database or database == ":memory:" or "mode=memory" in url


def _file_key(url: str) -> str:
    database = make_url(url).database or ""
    return os.path.realpath(database)


def gate_for(url: str, loop: asyncio.AbstractEventLoop | None = None) -> WriterGate:
    """The gate of the SQLite file ``url`` names, in ``loop`` (default: the running one)."""
    return _gate(_file_key(url), loop if loop is not None else asyncio.get_running_loop())


def _gate(file_key: str, loop: asyncio.AbstractEventLoop) -> WriterGate:
    table = _GATES.setdefault(loop, {})
    gate = table.get(file_key)
    if gate is None:
        gate = table[file_key] = WriterGate(loop, SQLITE_BUSY_TIMEOUT)
    return gate


# Connections (by :func:`_conn_key`, unique among live connections of every engine) that
# hold their file's gate, and those of them that have written in the current transaction,
# so SQLite's write lock too: their statements cannot wait for a lock any more (see
# :mod:`stockyard.db.sqlite_onetrip`). Both are cleared when the gate is given back.
_HELD: dict[int, WriterGate] = {}
_WRITE_LOCKED: set[int] = set()


def holds_write_lock(adapted_connection: Any) -> bool:
    """Whether this connection's transaction holds the gate and SQLite's write lock."""
    return id(adapted_connection) in _WRITE_LOCKED


def holds_gate(connection: Any) -> bool:
    """Whether this (sync) ``Connection``'s transaction holds its file's writer gate."""
    return _conn_key(connection.connection) in _HELD


def note_write(adapted_connection: Any) -> None:
    """A write statement ran on this connection: if it holds the gate, it now holds
    SQLite's write lock until its transaction ends."""
    key = id(adapted_connection)
    if key in _HELD:
        _WRITE_LOCKED.add(key)


def is_write_verb(statement: str) -> bool:
    """Whether the SQL text itself writes (takes SQLite's write lock)."""
    return statement.lstrip()[:7].upper().startswith(_WRITE_VERBS)


def opens_write_transaction(statement: str) -> bool:
    """Whether the statement leaves SQLite's write lock held until the transaction ends:
    DML, which Python's sqlite3 runs inside a transaction it begins. (DDL runs in
    autocommit there, so the lock can be gone as soon as it returns.)"""
    return statement.lstrip()[:7].upper().startswith(_DML_VERBS)


def is_write(statement: str, context: Any) -> bool:
    """Whether a statement needs the write lock (or asks for it, ``FOR UPDATE``)."""
    if is_write_verb(statement):
        return True
    compiled = getattr(context, "compiled", None)
    # SQLite drops FOR UPDATE from the SQL; honouring the intent keeps read-modify-write
    # sequences (``load ... for_update`` then change) free of lost updates.
    return getattr(getattr(compiled, "statement", None), "_for_update_arg", None) is not None


def _conn_key(dbapi_connection: Any) -> int:
    # The pool hands the dialect either the proxied connection or the driver's adapter;
    # both lead to the same adapter object.
    return id(getattr(dbapi_connection, "dbapi_connection", None) or dbapi_connection)


def install_writer_gate(engine: AsyncEngine, url: str) -> None:
    """Make ``engine``'s writers take the file's :class:`WriterGate` (see module doc)."""
    if is_memory_url(url):
        return  # each connection is its own database: nothing to coordinate
    dialect = engine.sync_engine.dialect
    file_key = _file_key(url)  # resolved once: realpath costs a syscall per component

    def _take(statement: str, context: Any) -> None:
        # Called right before the DBAPI execute, inside SQLAlchemy's greenlet; waiting
        # here is what the driver itself does for every statement. (Not an event
        # listener: a listener that waits lets other tasks add listeners to the list
        # being iterated, which SQLAlchemy refuses.)
        if context is None or not in_greenlet() or not is_write(statement, context):
            return
        key = _conn_key(context.root_connection.connection)
        if key in _HELD:
            return
        gate = _gate(file_key, asyncio.get_running_loop())
        if await_(gate.acquire(key)):
            _HELD[key] = gate

    def _give(dbapi_connection: Any) -> None:
        key = _conn_key(dbapi_connection)
        gate = _HELD.pop(key, None)
        if gate is None:
            return
        _WRITE_LOCKED.discard(key)
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is gate.loop:
            gate.release(key)
        elif not gate.loop.is_closed():
            # A connection closed from another thread (garbage collection).
            gate.loop.call_soon_threadsafe(gate.release, key)

    do_execute, do_executemany = dialect.do_execute, dialect.do_executemany
    do_execute_no_params = dialect.do_execute_no_params
    do_commit, do_rollback = dialect.do_commit, dialect.do_rollback
    do_close, do_terminate = dialect.do_close, dialect.do_terminate

    def execute(cursor: Any, statement: str, parameters: Any, context: Any = None) -> None:
        _take(statement, context)
        do_execute(cursor, statement, parameters, context)

    def executemany(cursor: Any, statement: str, parameters: Any, context: Any = None) -> None:
        _take(statement, context)
        do_executemany(cursor, statement, parameters, context)

    def execute_no_params(cursor: Any, statement: str, context: Any = None) -> None:
        _take(statement, context)
        do_execute_no_params(cursor, statement, context)

    def commit(dbapi_connection: Any) -> None:
        do_commit(dbapi_connection)
        # Only after a commit that worked: a failed one is followed by a rollback.
        _give(dbapi_connection)

    def rollback(dbapi_connection: Any) -> None:
        try:
            do_rollback(dbapi_connection)
        finally:
            _give(dbapi_connection)

    def close(dbapi_connection: Any) -> None:
        try:
            do_close(dbapi_connection)
        finally:
            _give(dbapi_connection)

    def terminate(dbapi_connection: Any) -> None:
        try:
            do_terminate(dbapi_connection)
        finally:
            _give(dbapi_connection)

    # The engine's own dialect instance (not shared with other engines). Statement
    # execution is where SQLite takes its lock and the transaction end is where it
    # gives it back; SQLAlchemy has no hook after commit that also sees the pool's
    # rollback-on-return.
    for name, fn in (
        ("do_execute", execute),
        ("do_executemany", executemany),
        ("do_execute_no_params", execute_no_params),
        ("do_commit", commit),
        ("do_rollback", rollback),
        ("do_close", close),
        ("do_terminate", terminate),
    ):
        setattr(dialect, name, fn)
