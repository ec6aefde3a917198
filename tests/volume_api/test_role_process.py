"""``stockyard volume`` as its own process: it serves health, finds work in the database
without any message (hints are only hints), and a killed role's work is taken over."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from alembic import command
from sqlalchemy import update

from stockyard.db import migrate
from stockyard.db.base import utcnow
from stockyard.db.models import Volume
from tests.conftest import Cloud
from tests.volume_api.helpers import V3, create_volume, vh, wait_status

STOCKYARD = str(Path(sys.executable).parent / "stockyard")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(url: str, data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOCKYARD_")}
    env.update(
        STOCKYARD_DATABASE_URL=url,
        STOCKYARD_DATA_DIR=str(data_dir),
        # Its own in-process bus: nothing reaches it but what its reconciler finds.
        STOCKYARD_BUS_URL="memory://",
        STOCKYARD_RECONCILE_INTERVAL_SECONDS="0.2",
        STOCKYARD_LEASE_SECONDS="3",
    )
    log = (data_dir / f"volume-{port}.log").open("wb")
    return subprocess.Popen(
        [STOCKYARD, "volume", "--health-port", str(port)], env=env, stdout=log, stderr=log
    )


@pytest.fixture
def role_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "role"
    path.mkdir()
    yield path


async def _healthy(port: int, proc: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(200):
            assert proc.poll() is None, "the volume role exited"
            try:
                if (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("the volume role never became ready")


async def test_role_process_does_the_work_and_stops_cleanly(
    cloud: Cloud, db_url: str, role_dir: Path
) -> None:
    if not db_url.startswith("sqlite"):
        pytest.skip("one backend is enough for the process wiring")
    # The fixture's tables come from the models; roles start only on a schema whose
    # revision they know, so the database is stamped with the code's head.
    await asyncio.to_thread(command.stamp, migrate.alembic_config(db_url), "head")
    port = _free_port()
    proc = _start(db_url, role_dir, port)
    try:
        await _healthy(port, proc)
        vol = await create_volume(cloud, cloud.demo_token)
        path = f"{V3}/volumes/{vol['id']}"
        await wait_status(cloud, cloud.demo_token, path, "volume", "available")
        async with cloud.state.db.session() as s:
            row = await s.get(Volume, vol["id"])
            assert row is not None and row.provider_location is not None
            assert row.provider_location.startswith(str((role_dir / "volumes").resolve()))
        # A delete leased by a role that is then killed (the lease written as that role
        # would): the next role process takes the row over once the lease has expired.
        async with cloud.state.db.session() as s:
            await s.execute(
                update(Volume)
                .where(Volume.id == vol["id"])
                .values(status="deleting", lease_owner="volume:killed:1", lease_expires=utcnow()
                        + timedelta(seconds=2), task_started_at=utcnow())
            )  # fmt: skip
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        proc = _start(db_url, role_dir, port)
        await _healthy(port, proc)
        await wait_status(cloud, cloud.demo_token, path, "volume", "deleted", within=30)
        assert not await asyncio.to_thread(Path(row.provider_location).exists)
        resp = await cloud.client.get(f"{V3}/volumes", headers=vh(cloud.demo_token))
        assert resp.json()["volumes"] == []
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert code == 0
