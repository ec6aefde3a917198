"""Run hwmgr's Alembic history programmatically (its own history, revision 0001...)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection

from stockyard.db.base import make_engine

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    # Its own version table, so hwmgr may even share a database server with the cloud.
    cfg.set_main_option("version_table", "hwmgr_alembic_version")
    return cfg


async def upgrade(url: str, revision: str = "head") -> None:
    """Bring hwmgr's schema to ``revision``; idempotent."""
    engine = make_engine(url)
    cfg = alembic_config(url)

    def _upgrade(connection: Connection) -> None:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)

    try:
        async with engine.begin() as conn:
            await conn.run_sync(_upgrade)
    finally:
        await engine.dispose()
