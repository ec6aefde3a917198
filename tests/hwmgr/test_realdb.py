"""hwmgr on PostgreSQL and MariaDB for real: migrations, concurrent deploys, node locks.

Skipped when the server does not listen on 127.0.0.1, except with CI=true (then it fails).
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text

from stockyard.db.base import Database, make_engine
from stockyard.hwmgr.db.locks import try_lock, unlock
from tests.hwmgr.conftest import ImageServer, start_lab, stop_lab
from tests.hwmgr.fakes import FakeFleet

SERVERS = {
    "postgresql": ("postgresql+asyncpg://postgres@127.0.0.1:5432", "postgres", 5432),
    "mariadb": ("mysql+aiomysql://root@127.0.0.1:3306", "", 3306),
}


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(params=sorted(SERVERS))
async def real_url(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    base, admin_db, port = SERVERS[request.param]
    if not _listening(port):
        reason = f"{request.param} is not listening on 127.0.0.1:{port}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    name = f"sy_hwmgr_{uuid.uuid4().hex[:12]}"
    admin = make_engine(f"{base}/{admin_db}").execution_options(isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield f"{base}/{name}"
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f"DROP DATABASE {name}"))
        await admin.dispose()


async def test_deploys_and_locks_on_real_database(
    real_url: str, tmp_path: Path, image_server: ImageServer
) -> None:
    lab = await start_lab(
        tmp_path / "hwmgr",
        Fernet.generate_key().decode(),
        FakeFleet(),
        image_server,
        database_url=real_url,
    )
    try:
        nodes = [await lab.available(f"n{i}", mac=f"52:54:00:00:02:{i:02x}") for i in range(10)]
        tasks = [await lab.deploy(n["uuid"]) for n in nodes]
        finished = [await lab.wait_task(t["uuid"]) for t in tasks]
        assert {t["state"] for t in finished} == {"done"}
        release = await lab.client.post(f"/v1/nodes/{nodes[0]['uuid']}/release")
        assert (await lab.wait_task(release.json()["uuid"]))["state"] == "done"
        assert (await lab.node(nodes[0]["uuid"]))["provision_state"] == "available"

        # Twenty workers race for one node's lock: exactly one gets it.
        db = Database(real_url)
        try:
            node_uuid = nodes[1]["uuid"]
            won = await asyncio.gather(*(try_lock(db, node_uuid, f"w{i}", 60) for i in range(20)))
            assert sum(won) == 1
            await unlock(db, node_uuid, f"w{won.index(True)}")
        finally:
            await db.dispose()
    finally:
        await stop_lab(lab)
