"""Throwaway databases for tests: one uniquely named database per use, on any backend.

``create_database("postgresql")`` returns a URL to a fresh, empty database;
``drop_database(url)`` removes it. SQLite databases live in a directory the
caller owns (usually pytest's ``tmp_path``).
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from stockyard.db.base import make_engine

BACKENDS = ("sqlite", "postgresql", "mariadb")

# Server root URLs; overridable so a lab with other ports can still run the suite.
SERVER_URLS = {
    "postgresql": os.environ.get(
        "STOCKYARD_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
    ),
    "mariadb": os.environ.get(
        "STOCKYARD_TEST_MARIADB_URL", "mysql+aiomysql://root@127.0.0.1:3306/"
    ),
}


class BackendUnavailable(RuntimeError):
    """The database server for a backend is not reachable."""


def server_reachable(backend: str) -> bool:
    """Whether the backend's server accepts TCP connections (SQLite always does)."""
    if backend == "sqlite":
        return True
    url = make_url(SERVER_URLS[backend])
    port = url.port or (5432 if backend == "postgresql" else 3306)
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((url.host or "127.0.0.1", port)) == 0


def _unlink_sqlite(name: str) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(name + suffix).unlink(missing_ok=True)


def _admin_url(url: str) -> str:
    parsed = make_url(url)
    admin_db = "postgres" if parsed.get_backend_name() == "postgresql" else None
    return parsed.set(database=admin_db).render_as_string(hide_password=False)


async def create_database(backend: str, sqlite_dir: Path | None = None, prefix: str = "sy") -> str:
    """Create a fresh uniquely-named empty database and return its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    if backend == "sqlite":
        assert sqlite_dir is not None, "sqlite needs a directory"
        return f"sqlite+aiosqlite:///{sqlite_dir}/{name}.db"
    if backend not in SERVER_URLS:
        raise ValueError(f"unknown backend {backend!r}")
    if not server_reachable(backend):
        raise BackendUnavailable(f"{backend} is not reachable at {SERVER_URLS[backend]}")
    root = SERVER_URLS[backend]
    engine = make_engine(root).execution_options(isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            if backend == "mariadb":
                await conn.execute(
                    text(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
                )
            else:
                await conn.execute(text(f"CREATE DATABASE \"{name}\" ENCODING 'UTF8'"))
    finally:
        await engine.dispose()
    return make_url(root).set(database=name).render_as_string(hide_password=False)


async def drop_database(url: str) -> None:
    """Drop a database made by :func:`create_database` (kicking out stray sessions on PG)."""
    parsed = make_url(url)
    name = parsed.database
    if parsed.get_backend_name() == "sqlite":
        if name:
            await asyncio.to_thread(_unlink_sqlite, name)
        return
    engine = make_engine(_admin_url(url)).execution_options(isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            if parsed.get_backend_name() == "postgresql":
                await conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :n AND pid <> pg_backend_pid()"
                    ),
                    {"n": name},
                )
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            else:
                await conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
    finally:
        await engine.dispose()
