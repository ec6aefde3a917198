"""Alembic from an empty database on every backend: twice, and matching the models."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
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


async def test_0024_fills_the_sizes_of_existing_servers(db_url: str) -> None:
    """Servers made before the size columns count for quota with their flavor's sizes."""
    await upgrade(db_url, "0023")
    engine = make_engine(db_url)
    insert = text(
        "INSERT INTO instances (uuid, name, hostname, project_id, user_id, flavor_id, flavor,"
        " image_ref, vm_state, power_state, scheduler_hints, metadata, addresses,"
        " access_ip_v4, access_ip_v6, config_drive, reservation_id, launch_index, locked,"
        " tags, attempts, tried_hosts, created_at, updated_at, deleted)"
        " VALUES (:uuid, 'old', 'old', 'p', 'u', 'f', :flavor, '', 'active', 1, '{}', '{}',"
        " '{}', '', '', '', 'r', 0, false, '[]', 0, '[]', :now, :now, false)"
    )
    now = datetime(2026, 1, 1, tzinfo=UTC).replace(tzinfo=None)
    try:
        async with engine.begin() as conn:
            for uuid, flavor in (("a" * 36, {"vcpus": 4, "ram": 2048}), ("b" * 36, {})):
                await conn.execute(insert, {"uuid": uuid, "flavor": json.dumps(flavor), "now": now})
        await upgrade(db_url)
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    text("SELECT uuid, vcpus, memory_mb FROM instances ORDER BY uuid")
                )
            ).all()
    finally:
        await engine.dispose()
    assert [tuple(r) for r in rows] == [("a" * 36, 4, 2048), ("b" * 36, 0, 0)]
