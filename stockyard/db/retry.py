"""Run a whole transaction again when the database says "try again".

Retryable: lost connections (asyncpg/aiomysql disconnects, ``pg_terminate_backend``),
connections the server refused for want of a free slot (PostgreSQL 53300, MariaDB 1040,
1203 and 1226: nothing was sent, so a re-run is always safe), MariaDB deadlocks (1213)
and lock wait timeouts (1205), PostgreSQL serialization failures (40001) and detected
deadlocks (40P01). The function is re-run whole in a new session and transaction, so it
must not have effects outside the database that cannot be repeated.

A connection lost during COMMIT itself is ambiguous (the commit may have landed);
``run_in_transaction`` and :func:`retried_flow` retry it like any other disconnect, so
their functions must be idempotent (claims and leases are: they are conditional UPDATEs
keyed on the instance). Callers that cannot be idempotent, like API requests, use
:func:`tracking_commits` to learn whether a write was committed before the error: a
deadlock or serialization failure refused by the COMMIT itself (:func:`is_conflict`) is
still safe to re-run, anything else after a write commit is not.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from stockyard.bus import reqid

if TYPE_CHECKING:
    from stockyard.db.base import Database

T = TypeVar("T")
P = ParamSpec("P")
log = logging.getLogger(__name__)

# Conflicts: the server aborted the transaction (or refused its COMMIT); nothing landed.
PG_RETRY_SQLSTATES = frozenset({"40001", "40P01"})
# Connection-class SQLSTATEs: 57P01 admin_shutdown is what pg_terminate_backend sends.
# 53300 too_many_connections: the server is full (every process's pool counts, see
# stockyard.settings.DatabasePoolSettings); a slot frees when another process lets go.
PG_CONNECTION_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "08000", "08003", "08006", "53300"})
MYSQL_RETRY_CODES = frozenset({1213, 1205})
# 2006 server gone away, 2013 lost connection during query, 1927 connection killed.
# 1040 too many connections, 1203 / 1226 a user's max_user_connections reached.
MYSQL_CONNECTION_CODES = frozenset({2006, 2013, 2014, 2045, 2055, 1927, 1053, 1040, 1203, 1226})


def _sqlstate(err: BaseException) -> str | None:
    for attr in ("sqlstate", "pgcode"):
        value = getattr(err, attr, None)
        if isinstance(value, str):
            return value
    return None


def _mysql_code(err: BaseException) -> int | None:
    args = getattr(err, "args", ())
    if args and isinstance(args[0], int):
        return args[0]
    return None


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception, the DBAPI error it wraps and their causes."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or any(e is s for s in seen):
            continue
        seen.append(e)
        todo.extend([getattr(e, "orig", None), e.__cause__, e.__context__])
    return seen


def is_retryable(exc: BaseException) -> bool:
    """Whether re-running the whole transaction may succeed."""
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    for err in _chain(exc):
        state = _sqlstate(err)
        if state in PG_RETRY_SQLSTATES or state in PG_CONNECTION_SQLSTATES:
            return True
        name = type(err).__name__
        if name in {"ConnectionDoesNotExistError", "InterfaceError"} and (
            type(err).__module__.startswith("asyncpg")
        ):
            return True
        if type(err).__module__.startswith(("pymysql", "aiomysql")):
            code = _mysql_code(err)
            if code in MYSQL_RETRY_CODES or code in MYSQL_CONNECTION_CODES:
                return True
        if isinstance(err, ConnectionError):
            return True
    return False


def is_conflict(exc: BaseException) -> bool:
    """A deadlock, lock wait timeout or serialization failure: the server rolled the
    transaction back (or refused its COMMIT), so nothing of it landed."""
    for err in _chain(exc):
        if _sqlstate(err) in PG_RETRY_SQLSTATES:
            return True
        if type(err).__module__.startswith(("pymysql", "aiomysql")):
            if _mysql_code(err) in MYSQL_RETRY_CODES:
                return True
    return False


def backoff(attempt: int, base: float = 0.05, cap: float = 2.0) -> float:
    """Full-jitter exponential backoff for the ``attempt``-th retry (1-based)."""
    return random.uniform(0, min(cap, base * 2**attempt))


async def run_in_transaction(
    db: Database,
    fn: Callable[[AsyncSession], Awaitable[T]],
    *,
    attempts: int = 5,
) -> T:
    """Run ``fn`` in a fresh session/transaction, committing on return.

    A retryable failure rolls back, waits a jittered backoff and runs ``fn`` again
    in a new session; after ``attempts`` tries the last error propagates.
    """
    for attempt in range(1, attempts + 1):
        try:
            async with db.session() as session:
                return await fn(session)
        except Exception as exc:
            if attempt >= attempts or not is_retryable(exc):
                raise
            log.info("retrying transaction (attempt %d/%d): %s", attempt, attempts, exc)
            await asyncio.sleep(backoff(attempt))
    raise AssertionError("unreachable")


def retried_flow(
    what: str, attempts: int = 5
) -> Callable[[Callable[P, Awaitable[T]]], Callable[P, Awaitable[T]]]:
    """Re-run a coroutine that does whole DB transactions when one of them is retryable.

    For conductor handlers: the whole call is run again after a jittered backoff, so it
    must be idempotent (leases and claims are conditional UPDATEs, and in-memory state is
    only changed after the commit). After ``attempts`` tries the last error propagates.
    """

    def decorate(fn: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
        @functools.wraps(fn)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            for attempt in range(1, attempts + 1):
                try:
                    return await fn(*args, **kwargs)
                except Exception as exc:
                    if not is_retryable(exc):
                        raise
                    if attempt >= attempts:
                        log.error(
                            "%s: giving up after %d attempts: %s [%s]",
                            what, attempts, describe(exc), reqid.current(),
                        )  # fmt: skip
                        raise
                    delay = backoff(attempt)
                    log.warning(
                        "%s: %s; re-running (attempt %d/%d) in %.2f s [%s]",
                        what, describe(exc), attempt + 1, attempts, delay, reqid.current(),
                    )  # fmt: skip
                    await asyncio.sleep(delay)
            raise AssertionError("unreachable")

        return wrapper

    return decorate


def describe(exc: BaseException) -> str:
    """One line naming a database error for logs: ``OperationalError: (1213, ...)``."""
    inner = getattr(exc, "orig", None) or exc
    text = str(inner).splitlines()[0] if str(inner) else ""
    return f"{type(inner).__name__}: {text[:200]}"


# Which statements make a transaction a write: a commit of one that only read is harmless
# to repeat, so read-only work never blocks a re-run.
_READ_ONLY = ("SELECT", "SHOW", "PRAGMA", "EXPLAIN", "SET ", "SAVEPOINT", "RELEASE", "VALUES")


@dataclass
class CommitWatch:
    """What one unit of work (an API request attempt) committed, seen by engine events."""

    write_commits: int = 0
    """COMMITs sent for transactions that wrote (whether or not they landed)."""
    in_commit: bool = False
    """No statement ran since the last write COMMIT was sent: an error now is its answer."""
    _dirty: set[int] = field(default_factory=set)

    def safe_to_rerun(self, exc: BaseException) -> bool:
        """Whether re-running the whole unit cannot apply a write twice.

        True if no write was committed, or if the only write COMMIT was refused with a
        conflict (the server rolled it back). A lost connection during or after a write
        COMMIT is ambiguous: the write may have landed.
        """
        if self.write_commits == 0:
            return True
        return self.write_commits == 1 and self.in_commit and is_conflict(exc)


_watch: ContextVar[CommitWatch | None] = ContextVar("stockyard_commit_watch", default=None)


@contextmanager
def tracking_commits() -> Iterator[CommitWatch]:
    """Record the commits of this task (and tasks it starts) on watched engines."""
    watch = CommitWatch()
    token = _watch.set(watch)
    try:
        yield watch
    finally:
        _watch.reset(token)


def _on_execute(
    conn: Connection, _cursor: Any, statement: str, _params: Any, _ctx: Any, _many: bool
) -> None:
    watch = _watch.get()
    if watch is None:
        return
    watch.in_commit = False
    if not statement.lstrip()[:10].upper().startswith(_READ_ONLY):
        watch._dirty.add(id(conn))


def _on_commit(conn: Connection) -> None:
    watch = _watch.get()
    if watch is not None and id(conn) in watch._dirty:
        watch._dirty.discard(id(conn))
        watch.write_commits += 1
        watch.in_commit = True


def _on_rollback(conn: Connection) -> None:
    watch = _watch.get()
    if watch is not None:
        watch._dirty.discard(id(conn))


def watch_commits(engine: AsyncEngine) -> None:
    """Let :func:`tracking_commits` see this engine's statements and commits (idempotent)."""
    target = engine.sync_engine
    for name, fn in (
        ("before_cursor_execute", _on_execute),
        ("commit", _on_commit),
        ("rollback", _on_rollback),
    ):
        if not event.contains(target, name, fn):
            event.listen(target, name, fn)
