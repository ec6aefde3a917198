"""The quota lock on the production databases: PostgreSQL and MariaDB, for real.

Skipped when the server is not listening on 127.0.0.1 (the lab machines run both).
"""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from stockyard.api.compute.quota_engine import check_quota
from stockyard.api.errors import APIError
from stockyard.db.base import Database, make_engine
from stockyard.db.models import Instance
from stockyard.settings import Settings

SERVERS = {
    "postgresql": ("postgresql+asyncpg://postgres@127.0.0.1:5432", "postgres", 5432),
    "mariadb": ("mysql+aiomysql://root@127.0.0.1:3306", "", 3306),
}


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(params=sorted(SERVERS))
async def real_db(request: pytest.FixtureRequest) -> AsyncIterator[Database]:
    base, admin_db, port = SERVERS[request.param]
    if not _listening(port):
        pytest.skip(f"{request.param} is not listening on 127.0.0.1:{port}")
    name = f"sy_quota_{uuid.uuid4().hex[:12]}"
    admin = make_engine(f"{base}/{admin_db}")
    admin = admin.execution_options(isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f"CREATE DATABASE {name}"))
    db = Database(f"{base}/{name}")
    try:
        await db.create_all()
        yield db
    finally:
        await db.dispose()
        async with admin.connect() as conn:
            await conn.execute(text(f"DROP DATABASE {name}"))
        await admin.dispose()


async def test_concurrent_checks_on_real_database(real_db: Database) -> None:
    settings = Settings(quota_instances=10)

    async def create_one() -> bool:
        async with real_db.sessionmaker() as session:
            try:
                await check_quota(session, "p1", "u", {"instances": 1}, settings=settings)
            except APIError:
                await session.rollback()
                return False
            await asyncio.sleep(0)
            session.add(Instance(name="vm", project_id="p1", user_id="u", flavor_id="f"))
            await session.commit()
            return True

    results = await asyncio.gather(*(create_one() for _ in range(50)))
    assert sum(results) == 10
