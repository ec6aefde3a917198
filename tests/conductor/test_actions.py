"""Actions on placed instances: reboot, stop, start, rebuild, delete."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from stockyard.compute.drivers.base import PowerState
from stockyard.db.models import (
    Allocation,
    InstanceFault,
    IPAllocation,
    Port,
    ServerGroupMember,
)
from tests.conductor.conftest import Lab

# Leases, resends and task flows: on every backend (their locking differs).
pytestmark = pytest.mark.backend("sqlite", "postgresql", "mariadb")


async def _active(lab: Lab, n: int = 1, **kw: object) -> list[str]:
    await lab.add_hosts(2)
    await lab.start()
    uuids = await lab.create(n, **kw)  # type: ignore[arg-type]
    rows = await lab.settled(uuids)
    assert {r.vm_state for r in rows} == {"active"}
    return uuids


async def test_reboot_stop_start_rebuild_cycle(lab: Lab) -> None:
    (uuid,) = await _active(lab)
    await lab.task(uuid, "rebooting")
    (row,) = await lab.settled([uuid])
    assert (row.vm_state, row.power_state) == ("active", PowerState.RUNNING)
    await lab.task(uuid, "rebooting_hard")
    assert (await lab.settled([uuid]))[0].vm_state == "active"
    assert [m["reboot_type"] for m in lab.agent.received if m["op"] == "reboot"] == [
        "SOFT",
        "HARD",
    ]

    await lab.task(uuid, "powering-off")
    (row,) = await lab.settled([uuid])
    assert (row.vm_state, row.power_state) == ("stopped", PowerState.SHUTDOWN)

    await lab.task(uuid, "powering-on")
    (row,) = await lab.settled([uuid])
    assert (row.vm_state, row.power_state) == ("active", PowerState.RUNNING)

    await lab.task(uuid, "powering-off")
    await lab.settled([uuid])
    await lab.task(uuid, "rebuilding", image_ref="new-image")
    (row,) = await lab.settled([uuid])
    # Nova (and Tempest's test_rebuild_server_in_stop_state): a stopped server is
    # rebuilt and stays SHUTOFF.
    assert row.vm_state == "stopped"
    rebuild = [m for m in lab.agent.received if m["op"] == "rebuild"]
    assert rebuild[0]["instance"]["image_ref"] == "new-image"
    assert rebuild[0]["stopped"] is True


async def test_rebuild_of_a_server_in_error_asks_for_a_running_guest(lab: Lab) -> None:
    """The agent is told the server's state: a server in ERROR (a start that failed, its
    guest still off) comes out ACTIVE, so its guest must be booted, not left as it was."""
    (uuid,) = await _active(lab)
    lab.agent.fail_ops = {"power_on"}
    await lab.task(uuid, "powering-off")
    await lab.settled([uuid])
    await lab.task(uuid, "powering-on")
    assert (await lab.settled([uuid]))[0].vm_state == "error"
    lab.agent.fail_ops = set()
    await lab.task(uuid, "rebuilding")
    (row,) = await lab.settled([uuid])
    assert (row.vm_state, row.power_state) == ("active", PowerState.RUNNING)
    (rebuild,) = [m for m in lab.agent.received if m["op"] == "rebuild"]
    assert rebuild["stopped"] is False


async def test_failed_reboot_goes_to_error_with_fault(lab: Lab) -> None:
    (uuid,) = await _active(lab)
    lab.agent.fail_ops = {"reboot"}
    await lab.task(uuid, "rebooting")
    (row,) = await lab.settled([uuid])
    assert row.vm_state == "error"
    async with lab.db.session() as s:
        fault = (await s.execute(select(InstanceFault))).scalar_one()
    assert fault.message.startswith("Failed to reboot instance: reboot failed on")


async def test_delete_frees_claim_exactly_once(lab: Lab) -> None:
    group = None
    await lab.add_hosts(2)
    await lab.start()
    group = await lab.group("soft-anti-affinity")
    uuids = await lab.create(2, group_uuid=group)
    await lab.settled(uuids)
    lab.agent.repeat_results = 3  # every destroy result arrives three times
    for uuid in uuids:
        await lab.task(uuid, "deleting")
    rows = await lab.settled(uuids)
    assert all(r.vm_state == "deleted" and r.deleted for r in rows)
    assert all(r.deleted_at is not None and r.terminated_at is not None for r in rows)
    # A late duplicate of an old result must not free anything again.
    destroy = next(m for m in lab.agent.received if m["op"] == "destroy")
    await lab.conductor.handle(
        {
            "type": "op_result", "instance_uuid": destroy["instance"]["uuid"],
            "op": "destroy", "op_id": destroy["op_id"], "ok": True, "power_state": 0,
            "error": None, "details": "", "host": destroy["instance"]["host"],
            "request_id": "",
        }
    )  # fmt: skip
    for h in await lab.host_rows():
        assert (h.vcpus_used, h.memory_mb_used, h.local_gb_used, h.running_vms) == (0, 0, 0, 0)
    async with lab.db.session() as s:
        assert (await s.execute(select(Allocation))).first() is None
        assert (await s.execute(select(Port))).first() is None
        assert (await s.execute(select(IPAllocation))).first() is None
        assert (await s.execute(select(ServerGroupMember))).first() is None


async def test_delete_of_never_placed_instance_finishes_at_once(lab: Lab) -> None:
    await lab.add_hosts(1, vcpus=1)
    await lab.start()
    big = {"id": "9", "name": "big", "vcpus": 8, "ram": 512, "disk": 1, "extra_specs": {}}
    (uuid,) = await lab.create(1, flavor=big)
    assert (await lab.settled([uuid]))[0].vm_state == "error"
    await lab.task(uuid, "deleting")
    (row,) = await lab.settled([uuid])
    assert row.vm_state == "deleted"
    assert not [m for m in lab.agent.received if m["op"] == "destroy"]


async def test_delete_while_spawning_preempts_the_spawn(lab: Lab) -> None:
    await lab.add_hosts(1)
    lab.agent.drop = True  # the spawn never answers
    await lab.start()
    (uuid,) = await lab.create(1)
    await lab.wait([uuid], lambda r: r.task_state == "spawning")
    lab.agent.drop = False
    await lab.task(uuid, "deleting")
    (row,) = await lab.settled([uuid])
    assert row.vm_state == "deleted"
    assert sum(h.vcpus_used for h in await lab.host_rows()) == 0


async def test_failed_destroy_is_retried_until_done(lab: Lab) -> None:
    (uuid,) = await _active(lab)
    lab.agent.fail_ops = {"destroy"}
    await lab.task(uuid, "deleting")
    await lab.wait([uuid], lambda r: r.lease_owner == lab.conductor.conductor_id)
    (row,) = await lab.rows([uuid])
    assert row.task_state == "deleting"  # not failed open
    lab.agent.fail_ops = set()
    async with lab.db.session() as s:  # let the retry lease expire
        from stockyard.db.models import Instance

        inst = (await s.execute(select(Instance).where(Instance.uuid == uuid))).scalar_one()
        inst.lease_expires = inst.lease_expires.replace(year=2000)  # type: ignore[union-attr]
    await lab.conductor.reconciler.run_once()
    (row,) = await lab.settled([uuid])
    assert row.vm_state == "deleted"
    async with lab.db.session() as s:
        faults = (await s.execute(select(InstanceFault))).scalars().all()
    assert [f.message.startswith("Failed to delete instance") for f in faults] == [True]


async def test_stale_op_result_is_ignored(lab: Lab) -> None:
    (uuid,) = await _active(lab)
    spawn = next(m for m in lab.agent.received if m["op"] == "spawn")
    await lab.conductor.handle(
        {
            "type": "op_result", "instance_uuid": uuid, "op": "spawn",
            "op_id": spawn["op_id"], "ok": False, "power_state": 0, "error": "late",
            "details": "", "host": spawn["instance"]["host"], "request_id": "",
        }
    )  # fmt: skip
    (row,) = await lab.rows([uuid])
    assert row.vm_state == "active" and row.task_state is None


async def test_delete_while_scheduling_is_passed_on_at_once(lab: Lab) -> None:
    await lab.add_hosts(1)
    await lab.start()
    (uuid,) = await lab.create(1, publish=False)
    flow = lab.conductor.build
    rows = await flow._lease([uuid])  # we hold the scheduling lease...
    assert [r.uuid for r in rows] == [uuid]
    await lab.task(uuid, "deleting", vm_state="building")  # ...when the user deletes
    await lab.conductor.handle({"type": "task", "instance_uuid": uuid})  # refused: leased
    assert (await lab.row(uuid)).task_state == "deleting"
    await flow.place([uuid])
    (row,) = await lab.settled([uuid])
    assert row.vm_state == "deleted"
    assert not lab.agent.received
