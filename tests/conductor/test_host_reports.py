"""Batched host reports: many hosts per transaction, on their own topic."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, select, update

from stockyard.bus.base import Message
from stockyard.bus.contract import REPORTS as REPORTS_TOPIC
from stockyard.compute.agent import ComputeAgent
from stockyard.compute.drivers.base import PowerState
from stockyard.compute.drivers.fake import FakeDriver
from stockyard.compute.pool import AgentPool
from stockyard.conductor.hostsync import VANISHED
from stockyard.conductor.service import REPORTS_CONCURRENCY
from stockyard.db.base import utcnow
from stockyard.db.models import Host, InstanceAction, InstanceFault
from tests.conductor.conftest import Lab


def batch(lab: Lab, hosts: list[str], taken_at: float | None = None) -> Message:
    """What an ``AgentPool`` sends for ``hosts`` (taken now unless said otherwise)."""
    return {
        "type": "host_reports",
        "taken_at": time.time() if taken_at is None else taken_at,
        "reports": [lab.agent.report(h) for h in hosts],
    }


@contextmanager
def statements(lab: Lab) -> Iterator[list[str]]:
    """The SQL statements run on the lab's database inside the block."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(str(args[2]))

    sync_engine = lab.db.engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(sync_engine, "before_cursor_execute", record)


async def _age_hosts(lab: Lab) -> None:
    async with lab.db.session() as s:
        await s.execute(update(Host).values(last_seen=utcnow() - timedelta(hours=1)))


@pytest.mark.backend("sqlite", "postgresql", "mariadb")
async def test_a_batch_updates_every_host_and_syncs_power_in_one_go(lab: Lab) -> None:
    hosts = await lab.add_hosts(4)
    await lab.start()
    uuids = await lab.create(4)
    rows = await lab.settled(uuids)
    by_host = {r.host: r.uuid for r in rows}
    assert len(by_host) == 4, "spread places one instance per host"
    stopped, vanished, *_ = (by_host[h] for h in hosts)
    lab.agent.power[hosts[0]][stopped] = int(PowerState.SHUTDOWN)
    del lab.agent.power[hosts[1]][vanished]
    await _age_hosts(lab)
    message = batch(lab, hosts)
    message["reports"][2]["vcpus"] = 12  # a host grew
    message["reports"].append({**lab.agent.report(hosts[3]), "host": "nobody"})

    with statements(lab) as sql:
        await lab.conductor.handle(message)
    # The hosts: one SELECT and one bulk UPDATE for all, one UPDATE for the changed one.
    host_updates = [q for q in sql if q.startswith("UPDATE hosts")]
    assert len(host_updates) == 2
    assert sum(q.startswith("SELECT instances") for q in sql) == 1
    recent = utcnow() - timedelta(minutes=5)
    host_rows = {h.name: h for h in await lab.host_rows()}
    assert set(host_rows) == set(hosts), "the unknown host was ignored"
    assert all(host_rows[h].last_seen > recent for h in hosts)
    assert [host_rows[h].vcpus for h in hosts] == [10, 10, 12, 10]
    state = lab.conductor.scheduler.index.by_name(hosts[2])
    assert state is not None and state.up and state.vcpus == 12
    rows = await lab.rows(uuids)
    assert [(r.vm_state, r.power_state) for r in rows[:2]] == [
        ("stopped", PowerState.SHUTDOWN),
        ("active", PowerState.RUNNING),  # one miss may be a race
    ]
    await lab.conductor.handle(batch(lab, hosts))
    assert [r.vm_state for r in await lab.rows(uuids)] == ["stopped", "error", "active", "active"]
    async with lab.db.session() as s:
        (fault,) = (await s.execute(select(InstanceFault))).scalars()
    assert (fault.instance_uuid, fault.message) == (vanished, VANISHED)


@pytest.mark.backend("sqlite", "postgresql", "mariadb")
async def test_a_stopped_server_found_running_is_stopped_again(lab: Lab) -> None:
    """Nova's power sync: the server's state is what its user asked for, so a guest
    started behind the cloud's back is stopped (a "stop" no user asked for)."""
    (host,) = await lab.add_hosts(1)
    await lab.start()
    (uuid,) = await lab.create(1)
    await lab.settled([uuid])
    await lab.task(uuid, "powering-off")
    (row,) = await lab.wait([uuid], lambda r: r.vm_state == "stopped" and r.task_state is None)
    lab.agent.power[host][uuid] = int(PowerState.RUNNING)  # started by hand on the host
    sent = len(lab.agent.received)

    await lab.conductor.handle(batch(lab, [host]))
    (row,) = await lab.wait([uuid], lambda r: r.task_state is None)
    assert (row.vm_state, row.power_state) == ("stopped", PowerState.SHUTDOWN)
    assert [m["op"] for m in lab.agent.received[sent:]] == ["power_off"]
    assert lab.agent.power[host][uuid] == PowerState.SHUTDOWN
    async with lab.db.session() as s:
        last = (
            await s.execute(
                select(InstanceAction)
                .where(InstanceAction.instance_uuid == uuid)
                .order_by(InstanceAction.id.desc())
                .limit(1)
            )
        ).scalar_one()
    assert (last.action, last.user_id, last.project_id) == ("stop", None, None)
    assert last.finish_time is not None

    # Reported again while the guest stays off: nothing more to do.
    await lab.conductor.handle(batch(lab, [host]))
    assert len(lab.agent.received) == sent + 1
    assert (await lab.row(uuid)).task_state is None


async def test_a_peers_port_update_does_not_hide_a_guest_that_stopped(lab: Lab) -> None:
    """A report is set aside for a server changed after it was taken; a new peer's
    address reaching the server's rules is no such change (``updated_at`` stays)."""
    (host,) = await lab.add_hosts(1)
    await lab.start()
    (a,) = await lab.create(1)
    await lab.settled([a])
    await lab.conductor.portsync.run_once()
    await lab.wait([a], lambda r: r.ports_synced_rev == r.ports_rev)
    (before,) = await lab.rows([a])
    taken = time.time()
    (b,) = await lab.create(1)  # joins A's default group, whose rules name the group
    await lab.settled([b])
    await lab.conductor.portsync.run_once()
    (row,) = await lab.wait([a], lambda r: r.ports_synced_rev == r.ports_rev > before.ports_rev)
    assert row.updated_at == before.updated_at

    lab.agent.power[host][a] = int(PowerState.SHUTDOWN)
    await lab.conductor.handle(batch(lab, [host], taken_at=taken))
    assert (await lab.row(a)).vm_state == "stopped"


async def test_the_cost_of_a_batch_does_not_grow_with_its_hosts(lab: Lab) -> None:
    hosts = await lab.add_hosts(40)
    await lab.start()
    await lab.settled(await lab.create(40))
    counts = []
    for size in (2, 40):
        with statements(lab) as sql:
            assert await lab.conductor.hostsync.on_report(batch(lab, hosts[:size])) == size
        counts.append(len(sql))
    assert counts[0] == counts[1]


async def test_a_single_host_report_is_a_batch_of_one(lab: Lab) -> None:
    (host,) = await lab.add_hosts(1)
    await lab.start()
    await _age_hosts(lab)
    assert await lab.conductor.hostsync.on_report(lab.agent.report(host)) == 1
    assert await lab.conductor.hostsync.on_report(lab.agent.report("nobody")) == 0
    (row,) = await lab.host_rows()
    assert row.last_seen > utcnow() - timedelta(minutes=5)


async def test_a_report_taken_before_the_instance_changed_is_no_miss(lab: Lab) -> None:
    """A spawn result may overtake a report on the other topic; it must not count."""
    (host,) = await lab.add_hosts(1)
    await lab.start()
    taken_before = time.time() - 1
    (uuid,) = await lab.create(1)
    await lab.settled([uuid])
    del lab.agent.power[host][uuid]
    for _ in range(3):
        await lab.conductor.handle(batch(lab, [host], taken_at=taken_before))
    assert (await lab.row(uuid)).vm_state == "active"
    for _ in range(2):
        await lab.conductor.handle(batch(lab, [host]))
    assert (await lab.row(uuid)).vm_state == "error"


async def test_op_results_are_applied_while_a_report_backlog_waits(lab: Lab) -> None:
    (host,) = await lab.add_hosts(1)
    await lab.start()
    gate, all_in = asyncio.Event(), asyncio.Event()
    entered: list[Message] = []
    on_report = lab.conductor.hostsync.on_report

    async def held(message: Message) -> int:
        entered.append(message)
        if len(entered) == 2000:
            all_in.set()
        await gate.wait()
        return await on_report(message)

    lab.conductor.hostsync.on_report = held  # type: ignore[method-assign]
    await _age_hosts(lab)
    await lab.conductor.hosts.refresh()
    # The host is down for the scheduler until its reports are applied: mark it up by
    # hand, as the first report would have, so that placement is not what is tested.
    state = lab.conductor.scheduler.index.by_name(host)
    assert state is not None
    state.up = True
    async with lab.db.session() as s:
        await s.execute(update(Host).values(last_seen=utcnow()))
    for _ in range(2000):
        await lab.bus.publish(REPORTS_TOPIC, batch(lab, [host]))
    (uuid,) = await lab.create(1)
    (row,) = await lab.settled([uuid])
    assert row.vm_state == "active"
    # The build, spawn and its result all went by while the backlog had not moved.
    assert len(entered) == REPORTS_CONCURRENCY
    gate.set()
    async with asyncio.timeout(120):  # only guards a hang: the backlog drains now
        await all_in.wait()


async def test_a_pool_keeps_its_hosts_up_through_batches(lab: Lab) -> None:
    hosts = await lab.add_hosts(3, serve=False)
    await _age_hosts(lab)
    await lab.start()
    pool = AgentPool(lab.bus, report_interval=3600)
    for h in hosts:
        pool.add(ComputeAgent(h, FakeDriver(h, vcpus=16), lab.bus))
    await pool.start()
    try:
        recent = utcnow() - timedelta(minutes=5)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while loop.time() < deadline:
            rows = await lab.host_rows()
            if all(r.last_seen > recent for r in rows):
                break
            await asyncio.sleep(0.02)
        assert [(r.last_seen > recent, r.vcpus) for r in rows] == [(True, 16)] * 3
        (uuid,) = await lab.create(1)
        (row,) = await lab.settled([uuid])
        assert row.vm_state == "active" and row.host in hosts
    finally:
        await pool.stop()
