"""How many database connections one process may hold: settings shared by every role.

Every process of a deployment (each API worker, scheduler, conductor, volume service,
hwmgr) has its own pool, and the server counts them all: PostgreSQL refuses connection
``max_connections - superuser_reserved_connections`` + 1 (97 of a default 100), MariaDB
connection ``max_connections`` + 1 (151). Keep ``processes x (pool size + overflow)`` under
that; a refusal past it is retried like a lost connection (``db.retry``), but a cloud
that lives on retries is slow. SQLite ignores these (one process, its own fixed pool).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings


class DatabasePoolSettings(BaseSettings):
    """The pool fields of :class:`~stockyard.settings.Settings` and of hwmgr's settings."""

    database_pool_size: int = Field(
        default=5, ge=1, description="connections a process keeps open (server databases)"
    )
    database_max_overflow: int = Field(
        default=10, ge=0, description="connections opened past the pool under load, then closed"
    )
    database_pool_timeout_seconds: float = Field(
        default=30.0, gt=0, description="how long a transaction waits for a free connection"
    )

    def database_engine_options(self) -> dict[str, Any]:
        """Keyword arguments for :class:`~stockyard.db.base.Database`."""
        return {
            "pool_size": self.database_pool_size,
            "max_overflow": self.database_max_overflow,
            "pool_timeout": self.database_pool_timeout_seconds,
        }
