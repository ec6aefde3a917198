"""Build flow: batches, groups, NoValidHost, reschedules."""

from __future__ import annotations

from sqlalchemy import select

from stockyard.compute.drivers.base import PowerState
from stockyard.db.models import (
    Allocation,
    InstanceAction,
    InstanceActionEvent,
    InstanceFault,
    Port,
)
from tests.conductor.conftest import GOLD, Lab


async def _events(lab: Lab, uuid: str) -> list[tuple[str, str | None]]:
    async with lab.db.session() as s:
        rows = (
            await s.execute(
                select(InstanceActionEvent.event, InstanceActionEvent.result)
                .join(InstanceAction, InstanceAction.id == InstanceActionEvent.action_id)
                .where(InstanceAction.instance_uuid == uuid)
                .order_by(InstanceActionEvent.id)
            )
        ).all()
    return [(e, r) for e, r in rows]


async def _faults(lab: Lab, uuid: str) -> list[InstanceFault]:
    async with lab.db.session() as s:
        q = select(InstanceFault).where(InstanceFault.instance_uuid == uuid)
        return list((await s.execute(q)).scalars())


async def test_batch_of_three_goes_active_with_events(lab: Lab) -> None:
    await lab.add_hosts(3)
    await lab.start()
    uuids = await lab.create(3)
    rows = await lab.settled(uuids)
    assert {r.vm_state for r in rows} == {"active"}
    for r in rows:
        assert r.power_state == PowerState.RUNNING
        assert r.launched_at is not None
        assert r.lease_owner is None and r.attempts == 1
        assert r.host in lab.hosts and r.region == "r1" and r.availability_zone == "az1"
        (entry,) = r.addresses["provider"]
        assert entry["version"] == 4 and entry["OS-EXT-IPS:type"] == "fixed"
        assert entry["OS-EXT-IPS-MAC:mac_addr"].startswith("fa:16:3e:")
        assert await _events(lab, r.uuid) == [
            ("conductor_schedule_and_build_instances", "Success"),
            ("compute_build_and_run_instance", "Success"),
        ]
    assert len({r.addresses["provider"][0]["addr"] for r in rows}) == 3
    async with lab.db.session() as s:
        actions = (await s.execute(select(InstanceAction))).scalars().all()
        assert all(a.finish_time is not None for a in actions)
        assert len((await s.execute(select(Allocation))).scalars().all()) == 3
    used = sum(h.vcpus_used for h in await lab.host_rows())
    assert used == 3


async def test_anti_affinity_batch_lands_on_three_hosts(lab: Lab) -> None:
    await lab.add_hosts(3, vcpus=20)
    await lab.start()
    group = await lab.group("anti-affinity")
    uuids = await lab.create(3, group_uuid=group)
    rows = await lab.settled(uuids)
    assert {r.vm_state for r in rows} == {"active"}
    assert len({r.host for r in rows}) == 3


async def test_hard_group_that_cannot_fit_places_none(lab: Lab) -> None:
    await lab.add_hosts(2, vcpus=20)
    await lab.start()
    group = await lab.group("anti-affinity")
    uuids = await lab.create(3, group_uuid=group)
    rows = await lab.settled(uuids)
    assert {r.vm_state for r in rows} == {"error"}
    assert all(r.host is None for r in rows)
    assert sum(h.vcpus_used for h in await lab.host_rows()) == 0
    (fault,) = await _faults(lab, uuids[0])
    assert fault.message.startswith("No valid host was found")


async def test_anti_affinity_counts_members_placed_earlier(lab: Lab) -> None:
    await lab.add_hosts(3, vcpus=20)
    await lab.start()
    group = await lab.group("anti-affinity", failure_domain="host")
    first = await lab.settled(await lab.create(2, group_uuid=group))
    second = await lab.settled(await lab.create(2, group_uuid=group))
    assert {r.vm_state for r in first} == {"active"}
    assert {r.vm_state for r in second} == {"error"}  # only one host left for two members
    third = await lab.settled(await lab.create(1, group_uuid=group))
    assert third[0].vm_state == "active"
    assert third[0].host not in {r.host for r in first}


async def test_no_valid_host_sets_error_with_reason(lab: Lab) -> None:
    await lab.add_hosts(2, vcpus=2)
    await lab.start()
    big = {"id": "9", "name": "huge", "vcpus": 64, "ram": 512, "disk": 1, "extra_specs": {}}
    (uuid,) = await lab.create(1, flavor=big)
    (row,) = await lab.settled([uuid])
    assert row.vm_state == "error" and row.host is None and row.lease_owner is None
    (fault,) = await _faults(lab, uuid)
    assert fault.code == 500
    assert fault.message.startswith("No valid host was found")
    assert "2 hosts considered" in fault.message and "vCPU" in fault.message
    assert await _events(lab, uuid) == [("conductor_schedule_and_build_instances", "Error")]
    async with lab.db.session() as s:
        action = (await s.execute(select(InstanceAction))).scalar_one()
        assert action.finish_time is not None and action.message == "Error"


async def test_long_no_valid_host_message_is_truncated_with_details(lab: Lab) -> None:
    await lab.add_hosts(1)
    await lab.start()
    (uuid,) = await lab.create(1, requested_az="az-" + "x" * 250)
    await lab.settled([uuid])
    (fault,) = await _faults(lab, uuid)
    assert len(fault.message) <= 255 and fault.message.endswith("...")
    assert "x" * 250 in fault.details


async def test_spawn_failure_reschedules_to_another_host(lab: Lab) -> None:
    bad = await lab.add_hosts(1, vcpus=40)  # the emptiest host: chosen first
    await lab.add_hosts(1, vcpus=20)
    lab.agent.fail_spawn_on = set(bad)
    await lab.start()
    (uuid,) = await lab.create(1)
    (row,) = await lab.settled([uuid])
    assert row.vm_state == "active"
    assert row.attempts == 2 and row.tried_hosts == bad and row.host != bad[0]
    hosts = {h.name: h for h in await lab.host_rows()}
    assert row.host is not None
    assert hosts[bad[0]].vcpus_used == 0 and hosts[row.host].vcpus_used == 1
    events = await _events(lab, uuid)
    assert ("compute_build_and_run_instance", "Error") in events
    assert events[-1] == ("compute_build_and_run_instance", "Success")


async def test_spawn_failing_everywhere_errors_after_max_attempts(lab: Lab) -> None:
    names = await lab.add_hosts(4)
    lab.agent.fail_spawn_on = set(names)
    await lab.start()
    (uuid,) = await lab.create(1)
    (row,) = await lab.settled([uuid])
    assert row.vm_state == "error"
    assert row.attempts == lab.settings.max_build_attempts == 3
    assert len(row.tried_hosts) == 3 and row.host is None
    (fault,) = await _faults(lab, uuid)
    assert fault.message.startswith(f"Build of instance {uuid} aborted: spawn failed on")
    assert all(h in fault.details for h in row.tried_hosts)
    assert sum(h.vcpus_used for h in await lab.host_rows()) == 0
    async with lab.db.session() as s:
        # The port is kept until delete (Nova keeps the port of an ERROR server).
        (port,) = (await s.execute(select(Port))).scalars().all()
        assert port.device_id == uuid


async def test_baremetal_flavor_takes_a_whole_node_of_its_class(lab: Lab) -> None:
    await lab.add_hosts(1)
    await lab.add_nodes({"bm-1": []})
    await lab.start()
    first, second = await lab.create(2, flavor=GOLD)
    rows = await lab.settled([first, second])
    assert sorted(r.vm_state for r in rows) == ["active", "error"]
    assert next(r for r in rows if r.vm_state == "active").host == "bm-1"


async def test_rack_anti_affinity_spreads_over_racks(lab: Lab) -> None:
    await lab.add_hosts(4, vcpus=20, racks=2)
    await lab.start()
    group = await lab.group("anti-affinity", failure_domain="rack")
    rows = await lab.settled(await lab.create(2, group_uuid=group))
    assert {r.vm_state for r in rows} == {"active"}
    assert len({r.rack for r in rows}) == 2
    third = await lab.settled(await lab.create(1, group_uuid=group))
    assert third[0].vm_state == "error"  # both racks already hold a member


async def test_aggregate_availability_zone_is_the_effective_az(lab: Lab) -> None:
    from stockyard.db.models import Aggregate, AggregateHost

    names = await lab.add_hosts(2)
    async with lab.db.session() as s:
        agg = Aggregate(name="fast", availability_zone="az-fast", extra={"ssd": "true"})
        s.add(agg)
        await s.flush()
        s.add(AggregateHost(aggregate_id=agg.id, host_name=names[1]))
    await lab.start()
    (uuid,) = await lab.create(1, requested_az="az-fast")
    (row,) = await lab.settled([uuid])
    assert (row.vm_state, row.host, row.availability_zone) == ("active", names[1], "az-fast")
