"""Alembic from an empty database on every backend: twice, and matching the models."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from stockyard.db import models  # noqa: F401  (registers the tables)
from stockyard.db.base import Base, make_engine
from stockyard.db.migrate import upgrade

pytestmark = pytest.mark.backend("sqlite", "postgresql", "mariadb")


def _diff(conn: Connection) -> list[Any]:
    ctx = MigrationContext.configure(
        conn, opts={"compare_type": True, "compare_server_default": False}
    )
    return list(compare_metadata(ctx, Base.metadata))


def _tables_and_version(conn: Connection) -> tuple[set[str], str | None]:
    ctx = MigrationContext.configure(conn)
    return set(inspect(conn).get_table_names()), ctx.get_current_revision()


async def test_upgrade_from_empty_twice_matches_models(db_url: str) -> None:
    await upgrade(db_url)
    engine = make_engine(db_url)
    try:
        async with engine.connect() as conn:
            tables, first_rev = await conn.run_sync(_tables_and_version)
        await upgrade(db_url)  # second run: nothing to do, nothing breaks
        async with engine.connect() as conn:
            tables_again, rev = await conn.run_sync(_tables_and_version)
            diff = await conn.run_sync(_diff)
    finally:
        await engine.dispose()
    assert set(Base.metadata.tables) <= tables
    assert tables_again == tables
    assert rev == first_rev is not None
    assert diff == []
