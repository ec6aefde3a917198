"""Enrolling the lab into a fresh database: counts, idempotency, batching."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select

from stockyard.api.compute.zones import host_zone_map
from stockyard.db.base import Database
from stockyard.db.models import Aggregate, AggregateHost, Host, Region
from stockyard.lab.enroll import enroll
from stockyard.lab.model import load_lab, make_lab, parse_lab
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


def _racked(hosts: int = 1, **moves: str) -> Any:
    """az1 with racks r1, r2 of opaque host names (``moves``: host -> rack instead)."""
    racks: dict[str, list[dict[str, str]]] = {"r1": [], "r2": []}
    for i in range(2 * hosts):
        name = f"node-{i:03d}"
        racks[moves.get(name, "r1" if i < hosts else "r2")].append({"name": name})
    return parse_lab(
        {
            "regions": [
                {
                    "name": "RegionOne",
                    "cidr": "10.10.0.0/16",
                    "azs": [
                        {
                            "name": "az1",
                            "racks": [{"name": r, "hypervisors": racks[r]} for r in racks],
                        },
                        {"name": "az2", "racks": [{"name": "r1", "hypervisors": [{"name": "zz"}]}]},
                    ],
                }
            ]
        }
    )


async def rack_aggregates(db: Database) -> dict[str, tuple[str | None, dict[str, Any], list[str]]]:
    """Aggregate name -> (zone, metadata, hosts)."""
    async with db.session() as s:
        aggs = (await s.scalars(select(Aggregate).order_by(Aggregate.id))).all()
        rows = (await s.execute(select(AggregateHost.aggregate_id, AggregateHost.host_name))).all()
    hosts: dict[int, list[str]] = {}
    for agg_id, host in rows:
        hosts.setdefault(agg_id, []).append(host)
    return {a.name: (a.availability_zone, dict(a.extra), sorted(hosts.get(a.id, []))) for a in aggs}


async def test_enroll_puts_each_host_in_its_rack_aggregate(
    db: Database, settings: Settings
) -> None:
    async with db.session() as s:
        await enroll(s, _racked(hosts=2), settings)
    aggs = await rack_aggregates(db)
    meta = {"stockyard:failure_domain": "rack", "stockyard:region": "RegionOne"}
    assert aggs == {
        "RegionOne/az1/r1": ("az1", {**meta, "stockyard:rack": "r1"}, ["node-000", "node-001"]),
        "RegionOne/az1/r2": ("az1", {**meta, "stockyard:rack": "r2"}, ["node-002", "node-003"]),
        "RegionOne/az2/r1": ("az2", {**meta, "stockyard:rack": "r1"}, ["zz"]),
    }
    # The racks' zones are the hosts' own: every host keeps its zone.
    async with db.session() as s:
        zones = await host_zone_map(s)
    assert zones == {
        "node-000": "az1",
        "node-001": "az1",
        "node-002": "az1",
        "node-003": "az1",
        "zz": "az2",
    }

    # Re-enrolling the same lab writes nothing; moving a host moves its membership.
    with count_statements(db) as seen:
        async with db.session() as s:
            await enroll(s, _racked(hosts=2), settings)
    assert not [q for q in seen if q.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))]
    async with db.session() as s:
        await enroll(s, _racked(hosts=2, **{"node-000": "r2"}), settings)
        moved = await s.scalar(select(Host).where(Host.name == "node-000"))
        assert moved is not None and moved.rack == "r2"
    aggs = await rack_aggregates(db)
    assert aggs["RegionOne/az1/r1"][2] == ["node-001"]
    assert aggs["RegionOne/az1/r2"][2] == ["node-000", "node-002", "node-003"]


async def test_enroll_finds_racks_by_metadata_not_by_name(db: Database, settings: Settings) -> None:
    async with db.session() as s:
        await enroll(s, _racked(), settings)
        agg = await s.scalar(select(Aggregate).where(Aggregate.name == "RegionOne/az1/r1"))
        assert agg is not None
        agg.name = "row 7, rack 1"  # an admin's rename
        # An unrelated aggregate that took the name enrolment would give a new rack.
        s.add(Aggregate(name="RegionOne/az1/r3", availability_zone=None, extra={}))
    lab = _racked()
    data = lab.model_dump()
    data["regions"][0]["azs"][0]["racks"].append({"name": "r3", "hypervisors": [{"name": "new"}]})
    async with db.session() as s:
        await enroll(s, parse_lab(data), settings)
    aggs = await rack_aggregates(db)
    assert aggs["row 7, rack 1"][2] == ["node-000"]
    assert "RegionOne/az1/r1" not in aggs
    assert aggs["RegionOne/az1/r3"] == (None, {}, [])
    assert aggs["RegionOne/az1/r3 (2)"][0] == "az1" and aggs["RegionOne/az1/r3 (2)"][2] == ["new"]


async def test_enroll_leaves_a_host_an_admin_put_in_another_zone(
    db: Database, settings: Settings
) -> None:
    async with db.session() as s:
        s.add(Aggregate(name="gold", availability_zone="gold", extra={}))
    async with db.session() as s:
        gold = await s.scalar(select(Aggregate.id).where(Aggregate.name == "gold"))
        assert gold is not None
        s.add(AggregateHost(aggregate_id=gold, host_name="node-000"))
    async with db.session() as s:
        await enroll(s, _racked(), settings)
        zones = await host_zone_map(s)
    aggs = await rack_aggregates(db)
    assert aggs["RegionOne/az1/r1"][2] == []  # never two zones for one host
    assert aggs["RegionOne/az1/r2"][2] == ["node-001"]
    assert zones["node-000"] == "gold"
