"""Alembic environment: async engines, one history for SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from stockyard.db import models  # noqa: F401  (registers the tables)
from stockyard.db.base import Base, make_engine

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things: batch mode rebuilds tables instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _url() -> str:
    """The ini's/caller's URL, else the deployment's (``alembic upgrade head`` on a host)."""
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from stockyard.settings import Settings

    return Settings().effective_database_url


async def _online() -> None:
    url = _url()
    engine = make_engine(url)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
        await connection.commit()
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    existing = config.attributes.get("connection")
    if existing is not None:
        _run(existing)
    else:
        asyncio.run(_online())
