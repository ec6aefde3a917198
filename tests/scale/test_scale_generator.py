"""The Verda-scale generator (``bench/scale``) at a tiny scale: the cloud it writes is
one that claims could have left (usage equals allocations, groups keep their rules,
nodes go to their owners' instances only), and the scheduler loads it."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bench.scale.generate import generate
from bench.scale.layout import Scale
from stockyard.db.base import Database
from stockyard.db.models import Allocation, Host, Instance, ServerGroup, ServerGroupMember
from stockyard.placement.hoststate import load_host_states

TINY = Scale(hypervisors=18, nodes=54, instances=60, groups=12, racks=27, projects=5, seed=3)


@pytest.mark.backend("sqlite", "postgresql")
async def test_generated_cloud_is_consistent(db_url: str, tmp_path: Path) -> None:
    made = await generate(db_url, TINY, tmp_path / "data")
    db = Database(db_url)
    try:
        async with db.session() as s:
            hosts = list((await s.scalars(select(Host))).all())
            instances = list((await s.scalars(select(Instance))).all())
            allocs = list((await s.scalars(select(Allocation))).all())
            groups = list((await s.scalars(select(ServerGroup))).all())
            members = list((await s.scalars(select(ServerGroupMember))).all())
            states = await load_host_states(s)
            max_ids = {
                t.__tablename__: await s.scalar(select(func.max(t.id)))
                for t in (Host, Instance, ServerGroup)
            }
    finally:
        await db.dispose()

    assert sum(h.kind == "vm" for h in hosts) == 18
    assert sum(h.kind == "baremetal" for h in hosts) == 54
    assert len({(h.region, h.az, h.rack) for h in hosts}) == 27
    assert len(instances) == len(allocs) == 60
    assert len(groups) == 12
    assert len(made.layout.instances) == 60
    assert max_ids == {"hosts": 72, "instances": 60, "server_groups": 12}

    # Usage counters are what the allocations add up to, and within capacity.
    by_host: dict[int, list[Allocation]] = defaultdict(list)
    for a in allocs:
        by_host[a.host_id].append(a)
    for h in hosts:
        mine = by_host[h.id]
        assert h.vcpus_used == sum(a.vcpus for a in mine)
        assert h.memory_mb_used == sum(a.memory_mb for a in mine)
        assert h.local_gb_used == sum(a.disk_gb for a in mine)
        assert h.running_vms == len(mine)
        assert h.vcpus_used <= h.vcpus * h.cpu_allocation_ratio
        assert h.memory_mb_used <= h.memory_mb * h.ram_allocation_ratio
        if h.kind == "baremetal":
            assert len(mine) <= 1

    # Every instance sits where its allocation says; a node serves its owner only.
    host_of = {h.id: h for h in hosts}
    alloc_of = {a.instance_uuid: a for a in allocs}
    for inst in instances:
        h = host_of[alloc_of[inst.uuid].host_id]
        assert (inst.host, inst.availability_zone, inst.rack) == (h.name, h.az, h.rack)
        if h.kind == "baremetal":
            assert inst.project_id == h.owner_project
            assert inst.flavor["extra_specs"] == {f"resources:CUSTOM_{h.resource_class}": "1"}

    # Members of a group: one project, one AZ, distinct racks (hard rule where it is one).
    inst_of = {i.uuid: i for i in instances}
    by_group: dict[int, list[Instance]] = defaultdict(list)
    for m in members:
        by_group[m.group_id].append(inst_of[m.instance_uuid])
    assert sum(len(v) for v in by_group.values()) >= 12
    for g in groups:
        placed = by_group[g.id]
        assert all(i.group_uuid == g.uuid and i.project_id == g.project_id for i in placed)
        assert len({i.availability_zone for i in placed}) <= 1
        if g.policy == "anti-affinity":
            assert g.rules == {"failure_domain": "rack"}
            assert len({i.rack for i in placed}) == len(placed)

    # The scheduler's load sees every host and each instance on its host.
    assert len(states) == 72
    on_host = {s.name: s.instances for s in states}
    for inst in instances:
        assert inst.uuid in on_host[inst.host or ""]
