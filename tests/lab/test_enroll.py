"""Enrolling the lab into a fresh database: counts, idempotency, batching."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select

from stockyard.db.base import Database
from stockyard.db.models import Host, Region
from stockyard.lab.enroll import enroll
from stockyard.lab.model import load_lab, make_lab
from stockyard.settings import Settings


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path}/x.db")
    await database.create_all()
    yield database
    await database.dispose()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, cpu_allocation_ratio=8.0, ram_allocation_ratio=1.5)


@contextmanager
def count_statements(db: Database) -> Iterator[list[str]]:
    seen: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", before)


async def counts(db: Database) -> tuple[int, int]:
    async with db.session() as s:
        hosts = await s.scalar(select(func.count()).select_from(Host))
        regions = await s.scalar(select(func.count()).select_from(Region))
    return hosts or 0, regions or 0


async def test_enroll_shipped_lab_is_idempotent(db: Database, settings: Settings) -> None:
    lab = load_lab(None)
    async with db.session() as s:
        hosts = await enroll(s, lab, settings)
    assert len(hosts) == 12
    assert await counts(db) == (12, 1)
    h = hosts[0]
    assert (h.kind, h.region, h.az, h.rack, h.hypervisor_type) == (
        "vm",
        "RegionOne",
        "az1",
        "r1",
        "fake",
    )
    assert (h.vcpus, h.memory_mb, h.local_gb) == (16, 32768, 200)
    assert (h.cpu_allocation_ratio, h.ram_allocation_ratio) == (8.0, 1.5)
    uuids = {x.name: x.uuid for x in hosts}

    with count_statements(db) as seen:
        async with db.session() as s:
            again = await enroll(s, lab, settings)
    assert {x.name: x.uuid for x in again} == uuids
    assert await counts(db) == (12, 1)
    assert not [q for q in seen if q.lstrip().upper().startswith(("INSERT", "UPDATE"))]
    async with db.session() as s:
        region = await s.get(Region, "RegionOne")
        assert region is not None and region.cidr == "10.10.0.0/16"


async def test_enroll_updates_inventory_but_not_usage(db: Database, settings: Settings) -> None:
    async with db.session() as s:
        await enroll(s, make_lab(hosts_per_rack=1), settings)
    async with db.session() as s:
        host = (await s.scalars(select(Host).order_by(Host.name))).first()
        assert host is not None
        host.vcpus_used = 4
        host.status = "disabled"
        name = host.name
    async with db.session() as s:
        hosts = await enroll(s, make_lab(hosts_per_rack=2, vcpus=32), settings)
    assert len(hosts) == 12
    changed = next(h for h in hosts if h.name == name)
    assert (changed.vcpus, changed.vcpus_used, changed.status) == (32, 4, "disabled")


async def test_enroll_6000_hosts_in_few_statements(db: Database, settings: Settings) -> None:
    lab = make_lab(regions=2, azs=3, racks=25, hosts_per_rack=40)
    with count_statements(db) as seen:
        async with db.session() as s:
            hosts = await enroll(s, lab, settings)
    assert len(hosts) == 6000
    assert await counts(db) == (6000, 2)
    # Multi-row INSERTs in batches, not one per host.
    assert len(seen) < 100
    with count_statements(db) as seen:
        async with db.session() as s:
            await enroll(s, lab, settings)
    assert len(seen) < 10
