"""Recovery: lost hints, dead conductors, lost ops, deadlines, host reports."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from stockyard.compute.drivers.base import PowerState
from stockyard.conductor.hostsync import VANISHED
from stockyard.db.base import utcnow
from stockyard.db.models import Host, Instance, InstanceFault
from tests.conductor.conftest import Lab

# Leases, resends and task flows: on every backend (their locking differs).
pytestmark = pytest.mark.backend("sqlite", "postgresql", "mariadb")


async def _set(lab: Lab, uuids: list[str], **values: object) -> None:
    async with lab.db.session() as s:
        await s.execute(update(Instance).where(Instance.uuid.in_(uuids)).values(**values))


async def _faults(lab: Lab, uuid: str) -> list[str]:
    async with lab.db.session() as s:
        q = select(InstanceFault.message).where(InstanceFault.instance_uuid == uuid)
        return list((await s.execute(q)).scalars())


async def test_lost_build_message_is_picked_up(lab: Lab) -> None:
    await lab.add_hosts(2)
    await lab.start(orphan_grace_seconds=0)
    uuids = await lab.create(3, publish=False)
    assert await lab.conductor.reconciler.run_once() == 3
    rows = await lab.settled(uuids)
    assert {r.vm_state for r in rows} == {"active"}


async def test_lost_task_message_is_picked_up(lab: Lab) -> None:
    await lab.add_hosts(1)
    await lab.start(orphan_grace_seconds=0)
    (uuid,) = await lab.create(1)
    await lab.settled([uuid])
    await lab.task(uuid, "powering-off", publish=False)
    await lab.conductor.reconciler.run_once()
    (row,) = await lab.settled([uuid])
    assert row.vm_state == "stopped"


async def test_fresh_task_is_left_to_its_hint(lab: Lab) -> None:
    await lab.add_hosts(1)
    await lab.start(orphan_grace_seconds=3600)
    await lab.create(1, publish=False)
    assert await lab.conductor.reconciler.run_once() == 0


async def test_dead_conductors_expired_lease_is_taken_over(lab: Lab) -> None:
    await lab.add_hosts(2)
    await lab.start()
    uuids = await lab.create(2, publish=False)
    past = utcnow() - timedelta(seconds=5)
    await _set(lab, uuids, lease_owner="dead-host-1-abcd", lease_expires=past)
    # The hint is redelivered: still refused? No: the lease is expired, so it is taken.
    await lab.conductor.reconciler.run_once()
    rows = await lab.settled(uuids)
    assert {r.vm_state for r in rows} == {"active"}


async def test_live_lease_of_another_conductor_is_respected(lab: Lab) -> None:
    await lab.add_hosts(1)
    await lab.start(orphan_grace_seconds=0)
    uuids = await lab.create(1, publish=False)
    await _set(lab, uuids, lease_owner="busy-peer", lease_expires=utcnow() + timedelta(hours=1))
    await lab.conductor.handle({"type": "build", "instance_uuids": uuids})
    assert await lab.conductor.reconciler.run_once() == 0
    (row,) = await lab.rows(uuids)
    assert (row.task_state, row.lease_owner) == ("scheduling", "busy-peer")


async def test_lost_spawn_is_resent_with_a_new_op_id(lab: Lab) -> None:
    await lab.add_hosts(1)
    lab.agent.drop = True
    await lab.start()
    (uuid,) = await lab.create(1)
    await lab.wait([uuid], lambda r: r.task_state == "spawning" and len(lab.agent.received) == 1)
    lab.agent.drop = False
    await _set(lab, [uuid], lease_expires=utcnow() - timedelta(seconds=1))
    await lab.conductor.reconciler.run_once()
    (row,) = await lab.settled([uuid])
    assert row.vm_state == "active"
    spawns = [m for m in lab.agent.received if m["op"] == "spawn"]
    assert len(spawns) == 2 and spawns[0]["op_id"] != spawns[1]["op_id"]
    assert sum(h.vcpus_used for h in await lab.host_rows()) == 1


async def test_task_past_its_deadline_fails_with_readable_fault(lab: Lab) -> None:
    await lab.add_hosts(1)
    lab.agent.drop = True
    await lab.start()
    (uuid,) = await lab.create(1)
    await lab.wait([uuid], lambda r: r.task_state == "spawning")
    long_ago = utcnow() - timedelta(seconds=400)
    await _set(lab, [uuid], task_started_at=long_ago, lease_expires=long_ago)
    await lab.conductor.reconciler.run_once()
    (row,) = await lab.rows([uuid])
    assert (row.vm_state, row.task_state, row.lease_owner) == ("error", None, None)
    assert await _faults(lab, uuid) == [f"Timed out after 300 s waiting for {row.host} to spawn"]


async def test_delete_past_its_deadline_is_retried_not_failed(lab: Lab) -> None:
    await lab.add_hosts(1)
    await lab.start()
    (uuid,) = await lab.create(1)
    await lab.settled([uuid])
    lab.agent.drop = True
    await lab.task(uuid, "deleting")
    await lab.wait([uuid], lambda r: (r.lease_owner or "").startswith("op:destroy:"))
    lab.agent.drop = False
    long_ago = utcnow() - timedelta(seconds=400)
    await _set(lab, [uuid], task_started_at=long_ago, lease_expires=long_ago)
    await lab.conductor.reconciler.run_once()
    (row,) = await lab.settled([uuid])
    assert row.vm_state == "deleted"


async def test_host_report_syncs_power_state(lab: Lab) -> None:
    (host,) = await lab.add_hosts(1)
    await lab.start()
    a, b = await lab.create(2)
    await lab.settled([a, b])
    before = (await lab.host_rows())[0].last_seen
    report = lab.agent.report(host)
    report["power_states"][a] = int(PowerState.SHUTDOWN)
    await lab.conductor.handle(report)
    rows = await lab.rows([a, b])
    assert [(r.vm_state, r.power_state) for r in rows] == [
        ("stopped", PowerState.SHUTDOWN),
        ("active", PowerState.RUNNING),
    ]
    # Found running while STOPPED: stopped again (Nova's force_stop), not made ACTIVE.
    report["power_states"][a] = int(PowerState.RUNNING)
    await lab.conductor.handle(report)
    (row,) = await lab.wait([a], lambda r: r.task_state is None)
    assert (row.vm_state, row.power_state) == ("stopped", PowerState.SHUTDOWN)
    assert lab.agent.received[-1]["op"] == "power_off"
    assert (await lab.host_rows())[0].last_seen >= before


async def test_instance_missing_from_two_reports_goes_to_error(lab: Lab) -> None:
    (host,) = await lab.add_hosts(1)
    await lab.start()
    a, b = await lab.create(2)
    await lab.settled([a, b])
    report = lab.agent.report(host)
    del report["power_states"][a]
    await lab.conductor.handle(report)
    assert (await lab.row(a)).vm_state == "active"  # one miss may be a race
    await lab.conductor.handle(report)
    assert (await lab.row(a)).vm_state == "error"
    assert (await lab.row(b)).vm_state == "active"
    assert await _faults(lab, a) == [VANISHED]


async def test_report_ignores_instances_with_a_task(lab: Lab) -> None:
    (host,) = await lab.add_hosts(1)
    lab.agent.drop = True
    await lab.start()
    (uuid,) = await lab.create(1)
    await lab.wait([uuid], lambda r: r.task_state == "spawning")
    for _ in range(3):
        await lab.conductor.handle(lab.agent.report(host))
    assert (await lab.row(uuid)).task_state == "spawning"


async def test_report_from_down_host_brings_it_up(lab: Lab) -> None:
    (host,) = await lab.add_hosts(1)
    async with lab.db.session() as s:
        await s.execute(update(Host).values(last_seen=utcnow() - timedelta(hours=1)))
    await lab.start()
    (uuid,) = await lab.create(1)
    assert (await lab.settled([uuid]))[0].vm_state == "error"  # host down
    await lab.conductor.handle(lab.agent.report(host))
    (uuid,) = await lab.create(1)
    assert (await lab.settled([uuid]))[0].vm_state == "active"


async def test_background_loop_resumes_lost_work(lab: Lab) -> None:
    await lab.add_hosts(1)
    conductor = (await lab.start(orphan_grace_seconds=0))[0]
    await conductor.stop()
    await conductor.start()  # now with the reconciler and refresher loops running
    uuids = await lab.create(2, publish=False)
    rows = await lab.settled(uuids)
    assert {r.vm_state for r in rows} == {"active"}
