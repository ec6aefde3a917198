"""Many builds at once, one or two conductors: never over capacity."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from stockyard.db.models import Allocation, InstanceFault
from tests.conductor.conftest import Lab


async def _check_capacity(lab: Lab) -> None:
    total = 0
    for h in await lab.host_rows():
        assert h.vcpus_used <= h.vcpus * h.cpu_allocation_ratio
        assert h.memory_mb_used <= h.memory_mb * h.ram_allocation_ratio
        assert h.local_gb_used <= h.local_gb * h.disk_allocation_ratio
        total += h.vcpus_used
    async with lab.db.session() as s:
        allocated = (await s.execute(select(func.sum(Allocation.vcpus)))).scalar_one()
    assert total == allocated


async def _fifty_on_forty(lab: Lab, conductors: int) -> None:
    await lab.add_hosts(4, vcpus=10)  # room for 40 one-vCPU servers
    await lab.start(conductors)
    uuids: list[str] = []
    for batch in await asyncio.gather(*(lab.create(1) for _ in range(50))):
        uuids.extend(batch)
    rows = await lab.settled(uuids)
    states = [r.vm_state for r in rows]
    assert states.count("active") == 40 and states.count("error") == 10
    await _check_capacity(lab)
    async with lab.db.session() as s:
        faulted = set((await s.execute(select(InstanceFault.instance_uuid))).scalars())
    assert faulted == {r.uuid for r in rows if r.vm_state == "error"}


async def test_fifty_builds_on_room_for_forty(lab: Lab) -> None:
    await _fifty_on_forty(lab, 1)


@pytest.mark.backend("sqlite", "postgresql", "mariadb")
async def test_two_conductors_never_overcommit(lab: Lab) -> None:
    await _fifty_on_forty(lab, 2)


@pytest.mark.backend("sqlite", "postgresql", "mariadb")
async def test_two_conductors_one_batch_each_with_hard_group(lab: Lab) -> None:
    await lab.add_hosts(4, vcpus=10)
    await lab.start(2)
    group = await lab.group("anti-affinity")
    first, second = await asyncio.gather(
        lab.create(2, group_uuid=group), lab.create(2, group_uuid=group)
    )
    rows = await lab.settled(first + second)
    active = [r for r in rows if r.vm_state == "active"]
    assert len(active) == 4 and len({r.host for r in active}) == 4
    await _check_capacity(lab)
    # A third batch cannot fit and, being hard, is placed not at all.
    third = await lab.settled(await lab.create(2, group_uuid=group))
    assert {r.vm_state for r in third} == {"error"}
