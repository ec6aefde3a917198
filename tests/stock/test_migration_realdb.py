"""The 0002 migration on SQLite, PostgreSQL and MariaDB, and competing approvals on the
production databases, for real.

PostgreSQL and MariaDB are skipped when not listening on 127.0.0.1, except with CI=true.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import inspect, select, text

from stockyard.db.base import Database, make_engine
from stockyard.db.migrate import upgrade
from stockyard.db.models import Host, StockRequest
from stockyard.stock import StockConflict
from stockyard.stock.requests import NewRequest, approve_request, create_request

SERVERS = {
    "postgresql": ("postgresql+asyncpg://postgres@127.0.0.1:5432", "postgres", 5432),
    "mariadb": ("mysql+aiomysql://root@127.0.0.1:3306", "", 3306),
}


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


async def _columns(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            cols = await conn.run_sync(
                lambda c: [col["name"] for col in inspect(c).get_columns("stock_requests")]
            )
            version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
    finally:
        await engine.dispose()
    assert version is not None and version >= "0002"  # stock tables exist from 0002 on
    return set(cols)


EXPECTED = {"uuid", "project_id", "resource_class", "min_racks", "status", "assigned_nodes"}


async def test_migration_on_fresh_sqlite(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'stock.db'}"
    await upgrade(url)
    await upgrade(url)  # idempotent
    assert EXPECTED <= await _columns(url)


@pytest.fixture(params=sorted(SERVERS))
async def real_url(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    base, admin_db, port = SERVERS[request.param]
    if not _listening(port):
        if os.environ.get("CI") == "true":
            pytest.fail(f"{request.param} is not listening on 127.0.0.1:{port} (CI=true)")
        pytest.skip(f"{request.param} is not listening on 127.0.0.1:{port}")
    name = f"sy_stock_{uuid.uuid4().hex[:12]}"
    admin = make_engine(f"{base}/{admin_db}").execution_options(isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield f"{base}/{name}"
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f"DROP DATABASE {name}"))
        await admin.dispose()


async def test_migration_on_real_database(real_url: str) -> None:
    await upgrade(real_url)
    assert EXPECTED <= await _columns(real_url)


async def test_competing_approvals_on_real_database(real_url: str) -> None:
    await upgrade(real_url)
    db = Database(real_url)
    try:
        async with db.session() as session:
            for i in range(5):
                session.add(
                    Host(
                        name=f"bm{i}",
                        kind="baremetal",
                        region="RegionOne",
                        az="az1",
                        rack=f"r{i % 3}",
                        resource_class="BM_GOLD",
                        vcpus=8,
                        memory_mb=1024,
                        local_gb=10,
                    )
                )
            await session.flush()
            rids = []
            for n in range(4):
                req = await create_request(
                    session, NewRequest(f"p{n}", "u", "BM_GOLD", "az1", count=2, min_racks=2)
                )
                rids.append(req.uuid)

        async def approve(rid: str) -> bool:
            async with db.sessionmaker() as session:
                try:
                    await approve_request(session, rid, "admin")
                except StockConflict:
                    return False
                return True

        results = await asyncio.gather(*(approve(rid) for rid in rids))
        assert sum(results) == 2
        async with db.session() as session:
            owners = (await session.scalars(select(Host.owner_project))).all()
            approved = (
                await session.scalars(select(StockRequest).where(StockRequest.status == "approved"))
            ).all()
        assert sorted(o for o in owners if o) == sorted(
            r.project_id for r in approved for _ in "ab"
        )
        assigned = [n for r in approved for n in r.assigned_nodes]
        assert len(assigned) == len(set(assigned)) == 4
    finally:
        await db.dispose()
