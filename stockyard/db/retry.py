"""Run a whole transaction again when the database says "try again".

Retryable: lost connections (asyncpg/aiomysql disconnects, ``pg_terminate_backend``),
MariaDB deadlocks (1213) and lock wait timeouts (1205), PostgreSQL serialization
failures (40001) and detected deadlocks (40P01). The function is re-run whole in a
new session and transaction, so it must not have effects outside the database that
cannot be repeated.

A connection lost during COMMIT itself is ambiguous (the commit may have landed);
it is retried like any other disconnect, so functions should be idempotent (claims
and leases are: they are conditional UPDATEs keyed on the instance).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession

if TYPE_CHECKING:
    from stockyard.db.base import Database

T = TypeVar("T")
log = logging.getLogger(__name__)

PG_RETRY_SQLSTATES = frozenset({"40001", "40P01"})
# Connection-class SQLSTATEs: 57P01 admin_shutdown is what pg_terminate_backend sends.
PG_CONNECTION_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "08000", "08003", "08006"})
MYSQL_RETRY_CODES = frozenset({1213, 1205})
# 2006 server gone away, 2013 lost connection during query, 1927 connection killed.
MYSQL_CONNECTION_CODES = frozenset({2006, 2013, 2014, 2045, 2055, 1927, 1053})


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
