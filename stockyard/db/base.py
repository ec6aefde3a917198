"""Declarative base, engine and session factory. Knows no flows and no HTTP."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import JSON, DateTime, MetaData, and_, delete, event
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.sql.expression import Executable
from sqlalchemy.types import TypeDecorator

from stockyard.db.sqlite_gate import SQLITE_BUSY_TIMEOUT, install_writer_gate, is_memory_url
from stockyard.db.sqlite_onetrip import use_one_trip_cursors
from stockyard.extras import driver_import, url_scheme

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """Naive UTC now: every backend stores it the same way."""
    return datetime.now(UTC).replace(tzinfo=None)


def new_uuid() -> str:
    return str(uuid.uuid4())


def new_hex_id() -> str:
    """Keystone-style ids: 32 hex characters."""
    return uuid.uuid4().hex


class UTCDateTime(TypeDecorator[datetime]):
    """Naive UTC datetimes with microseconds on every backend."""

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> Any:
        if dialect.name == "mysql":
            from sqlalchemy.dialects.mysql import DATETIME

            return dialect.type_descriptor(DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON, datetime: UTCDateTime}


def make_engine(
    url: str,
    *,
    echo: bool = False,
    pool_size: int = 5,
    max_overflow: int = 10,
    pool_recycle: int = 1800,
    pool_pre_ping: bool = True,
    pool_timeout: float = 30.0,
) -> AsyncEngine:
    """An engine with settings that suit the backend.

    Server backends get a bounded pool (sized by ``stockyard.settings.DatabasePoolSettings``);
    ``pool_pre_ping`` replaces a connection the server dropped (restart,
    ``pg_terminate_backend``, ``KILL``) on the next checkout,
    and ``pool_recycle`` stays under MariaDB's ``wait_timeout`` and proxies' idle cuts.

    SQLite gets WAL, a busy timeout, and an in-process writer gate
    (:func:`~stockyard.db.sqlite_gate.install_writer_gate`): one writing transaction at
    a time per database file, queued in the event loop rather than in SQLite's
    sleep-and-retry busy handler.
    """
    kwargs: dict[str, Any] = {"echo": echo}
    if url.startswith("sqlite"):
        # At most 15 connections, SQLAlchemy's default (5 + 10 overflow), on purpose: the
        # one event loop interleaves every open transaction, so more connections mean
        # longer writer gate holds (measured: 202 p99 3.5-4.4 s with 10 + 20 vs 1.3-1.7 s).
        # All 15 are kept rather than 10 of them being overflow: under a burst an
        # overflow connection was closed on return and reopened on the next checkout
        # (a new aiosqlite thread, a new SQLite connection and its pragmas each time).
        # check_same_thread: statements of a transaction that holds the write lock run
        # in the loop's thread, the rest in the connection's own (db.sqlite_onetrip).
        kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT, "check_same_thread": False}
        if not is_memory_url(url):  # an in-memory database has one static connection
            kwargs.update(pool_size=15, max_overflow=0)
    else:
        kwargs.update(
            pool_pre_ping=pool_pre_ping,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_recycle=pool_recycle,
            pool_timeout=pool_timeout,
        )
    if url.startswith("mysql"):
        # PostgreSQL's default. Under MariaDB's REPEATABLE READ a retry loop inside one
        # transaction (e.g. "pick the next free address" after losing a unique race)
        # re-reads its first snapshot forever; READ COMMITTED sees the winner's row.
        kwargs["isolation_level"] = "READ COMMITTED"
    # The driver is imported here: a URL whose driver is not installed stops with the
    # extra to install (MissingExtra), not a ModuleNotFoundError.
    with driver_import(f"database_url {url_scheme(url)}"):
        engine = create_async_engine(url, **kwargs)
    if url.startswith("sqlite"):

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            # WAL lets readers go on while one writer commits; the API reads a lot.
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        use_one_trip_cursors(engine.sync_engine)
        install_writer_gate(engine, url)

    return engine


class Database:
    """Owns the engine and hands out sessions."""

    def __init__(self, url: str, **engine_options: Any) -> None:
        """``engine_options`` go to :func:`make_engine` (pool size, overflow, recycle...)."""
        self.url = url
        self.engine = make_engine(url, **engine_options)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session whose transaction commits on success and rolls back on error."""
        async with self.sessionmaker() as session, session.begin():
            yield session

    async def create_all(self) -> None:
        """Create the schema directly (tests); deployments use Alembic."""
        from stockyard.db import models  # noqa: F401  (registers the tables)

        async with self.engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)

    async def dispose(self) -> None:
        await self.engine.dispose()


async def execute_count(session: AsyncSession, stmt: Executable) -> int:
    """Run a DML statement and return its row count (the basis of every lease/claim)."""
    result = cast(CursorResult[Any], await session.execute(stmt))
    return int(result.rowcount)


async def delete_once(session: AsyncSession, row: Base) -> bool:
    """Delete ``row``, read earlier in this transaction, by its primary key; False when
    another transaction deleted it since (its caller answers the API's 404).

    ``session.delete(row)`` would flush a DELETE that matches nothing, warn, and let both
    of two concurrent deletes answer success and run their side effects. The row leaves
    the session first, with any unflushed change of it. Foreign keys cascade in the
    database (the models have no ORM cascades), so nothing else changes.
    """
    mapper = sa_inspect(row).mapper
    key = mapper.primary_key_from_instance(row)
    if row in session:
        session.expunge(row)
    stmt = (
        delete(mapper.class_)
        .where(and_(*(col == value for col, value in zip(mapper.primary_key, key, strict=True))))
        .execution_options(synchronize_session=False)
    )
    return bool(await execute_count(session, stmt))
