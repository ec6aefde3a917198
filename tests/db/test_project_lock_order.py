"""SQLite's project quota lock and the writer gate never wait for each other crosswise:
a transaction that wrote before its quota check (a volume create that first made the
default volume type) holds the gate, and a checker that holds the project's lock waits
for that gate. Found by the random walk: the cloud stood still for the gate's 30 s."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from stockyard.db.base import Database
from stockyard.db.models import Region
from stockyard.db.project_lock import lock_project


@pytest.mark.backend("sqlite", "postgresql", "mariadb")
async def test_a_writer_may_take_the_project_lock_a_waiting_checker_holds(db_url: str) -> None:
    db = Database(db_url)
    await db.create_all()
    wrote = asyncio.Event()
    checker_waits = asyncio.Event()

    async def writer_then_checker() -> None:
        async with db.session() as s:
            s.add(Region(id="w", cidr="10.0.0.0/24"))
            await s.flush()  # holds the writer gate (SQLite) from here to its commit
            wrote.set()
            await checker_waits.wait()
            await asyncio.sleep(0.2)  # the other one is waiting for the gate now
            await lock_project(s, "p")
            s.add(Region(id="w2", cidr="10.0.1.0/24"))

    async def checker() -> None:
        await wrote.wait()
        async with db.session() as s:
            checker_waits.set()
            await lock_project(s, "p")  # takes the project's lock, then waits for the gate
            s.add(Region(id="c", cidr="10.0.2.0/24"))

    try:
        await asyncio.gather(writer_then_checker(), checker())
        async with db.session() as s:
            assert await s.scalar(select(func.count()).select_from(Region)) == 3
    finally:
        await db.dispose()
