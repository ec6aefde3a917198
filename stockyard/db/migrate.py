"""Run Alembic programmatically: ``stockyard db upgrade`` and the start of ``stockyard up``;
and the start-up check of the roles that use the database (:func:`check_schema`).

``stockyard db upgrade`` runs as a Kubernetes Job in every region's Argo CD sync (see
``deploy/``): two of them may run at once against the cloud's one database, so on
PostgreSQL and MariaDB the migration holds a named database lock while it runs; the
second waits, then finds the schema at head and does nothing.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection

from stockyard.db.base import make_engine

MIGRATIONS = Path(__file__).parent / "migrations"
# pg_advisory_xact_lock key / MariaDB GET_LOCK name of a running upgrade.
_PG_LOCK_KEY = 0x5354_4B59_4452_4442  # "STKYDRDB"
_MYSQL_LOCK = "stockyard_db_upgrade"
_MYSQL_LOCK_WAIT_SECONDS = 600


class SchemaMismatch(RuntimeError):
    """The database's schema is not the one this code was written for; one-line message."""


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def code_head() -> str:
    """The newest revision this code knows (the migrations' single head)."""
    heads = ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()
    if len(heads) != 1:  # a merge was forgotten: a packaging error, not a database one
        raise RuntimeError(f"migrations have {len(heads)} heads: {heads}")
    return heads[0]


def _lock(connection: Connection) -> None:
    dialect = connection.dialect.name
    if dialect == "postgresql":
        # Released with the transaction the upgrade runs in.
        connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
    elif dialect in ("mysql", "mariadb"):
        got = connection.execute(
            text("SELECT GET_LOCK(:n, :t)"), {"n": _MYSQL_LOCK, "t": _MYSQL_LOCK_WAIT_SECONDS}
        ).scalar()
        if got != 1:
            raise RuntimeError(f"another schema upgrade held {_MYSQL_LOCK} too long")


def _unlock(connection: Connection) -> None:
    if connection.dialect.name in ("mysql", "mariadb"):
        connection.execute(text("SELECT RELEASE_LOCK(:n)"), {"n": _MYSQL_LOCK})


async def upgrade(url: str, revision: str = "head") -> None:
    """Bring the schema to ``revision``; idempotent, and safe to run concurrently."""
    engine = make_engine(url)
    cfg = alembic_config(url)

    def _upgrade(connection: Connection) -> None:
        _lock(connection)
        try:
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, revision)
        finally:
            _unlock(connection)

    try:
        async with engine.begin() as conn:
            await conn.run_sync(_upgrade)
    finally:
        await engine.dispose()


def upgrade_sync(url: str, revision: str = "head") -> None:
    asyncio.run(upgrade(url, revision))


def describe_mismatch(current: tuple[str, ...], head: str, known: set[str]) -> str | None:
    """Why a database at revisions ``current`` cannot be used by code at ``head``; None
    when it can. ``known`` is every revision the code's migrations hold."""
    if current == (head,):
        return None
    if not current:
        return "the database has no Stockyard schema: run `stockyard db upgrade` first"
    unknown = [rev for rev in current if rev not in known]
    if unknown:
        return (
            f"the database schema is at revision {', '.join(unknown)}, newer than this "
            f"Stockyard knows (its newest is {head}): run the release that upgraded it"
        )
    return (
        f"the database schema is at revision {', '.join(current)}, older than this "
        f"Stockyard needs ({head}): run `stockyard db upgrade` first"
    )


async def check_schema(url: str) -> None:
    """Refuse (:class:`SchemaMismatch`) a database whose schema is not this code's head.

    A role started before the upgrade Job finished, or an old image left running after
    an upgrade, would otherwise fail later on a missing column, or write rows the new
    code does not expect. Only reads ``alembic_version``.
    """
    script = ScriptDirectory.from_config(alembic_config(url))
    head = code_head()
    known = {rev.revision for rev in script.walk_revisions()}
    engine = make_engine(url)

    def _current(connection: Connection) -> tuple[str, ...]:
        # Alembic logs its DDL mode at INFO on configure: noise for a read-only check.
        quiet = logging.getLogger("alembic.runtime.migration")
        level = quiet.level
        quiet.setLevel(logging.WARNING)
        try:
            return tuple(MigrationContext.configure(connection).get_current_heads())
        finally:
            quiet.setLevel(level)

    try:
        async with engine.connect() as conn:
            current = await conn.run_sync(_current)
    finally:
        await engine.dispose()
    reason = describe_mismatch(current, head, known)
    if reason is not None:
        raise SchemaMismatch(reason)
