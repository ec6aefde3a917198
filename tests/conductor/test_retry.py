"""Conductor handlers re-run whole on deadlocks, without doing anything twice."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from stockyard.compute.drivers.base import PowerState
from stockyard.conductor.hostsync import VANISHED
from stockyard.db.base import utcnow
from stockyard.db.models import InstanceActionEvent, InstanceFault
from stockyard.db.retry import retried_flow
from tests.api.test_retry import Fault, Faults, deadlock, refused_commit
from tests.conductor.conftest import Lab


@pytest.fixture
def faults(monkeypatch: pytest.MonkeyPatch) -> Iterator[Faults]:
    f = Faults(monkeypatch)
    yield f
    f.close()


def starts(prefix: str) -> Fault:
    return Fault(lambda s: s.lstrip().startswith(prefix), deadlock)


async def _active(lab: Lab) -> str:
    await lab.add_hosts(1)
    await lab.start()
    (uuid,) = await lab.create(1)
    (row,) = await lab.settled([uuid])
    assert row.vm_state == "active"
    return uuid


async def _events(lab: Lab, event: str) -> list[InstanceActionEvent]:
    async with lab.db.session() as s:
        stmt = select(InstanceActionEvent).where(InstanceActionEvent.event == event)
        return list((await s.execute(stmt)).scalars())


async def test_task_hit_by_a_deadlock_sends_its_op_once(
    lab: Lab, faults: Faults, caplog: pytest.LogCaptureFixture
) -> None:
    """The deadlock strikes after the lease was taken: rolled back, re-run, one op."""
    caplog.set_level(logging.WARNING, logger="stockyard.db.retry")
    uuid = await _active(lab)
    fault = faults.add(lab.db.engine, starts("INSERT INTO instance_action_events"))
    await lab.task(uuid, "powering-off")
    (row,) = await lab.settled([uuid])
    assert (row.vm_state, row.power_state) == ("stopped", PowerState.SHUTDOWN)
    assert (fault.raised, fault.seen) == (1, 2)
    assert [m["op"] for m in lab.agent.received].count("power_off") == 1
    (event,) = await _events(lab, "compute_stop_instance")
    assert event.result == "Success"
    assert "task: OperationalError" in caplog.text and "re-running (attempt 2/5)" in caplog.text


async def test_result_whose_commit_was_refused_is_applied_once(lab: Lab, faults: Faults) -> None:
    uuid = await _active(lab)
    fault = faults.add(
        lab.db.engine,
        Fault(
            lambda s: s.startswith("UPDATE instance_action_events SET finish_time"),
            refused_commit,
            at_commit=True,
        ),
    )
    await lab.task(uuid, "rebooting")
    (row,) = await lab.settled([uuid])
    assert (row.vm_state, row.power_state, row.lease_owner) == ("active", 1, None)
    assert (fault.raised, fault.seen) == (1, 2)
    (event,) = await _events(lab, "compute_reboot_instance")
    assert event.result == "Success" and event.finish_time is not None


async def test_host_report_rerun_counts_a_missing_instance_once(lab: Lab, faults: Faults) -> None:
    """Two missed reports make a vanished instance ERROR; a re-run is not a second one."""
    uuid = await _active(lab)
    host = lab.hosts[0]
    lab.agent.power[host].pop(uuid)
    fault = faults.add(
        lab.db.engine,
        Fault(lambda s: s.startswith("UPDATE hosts SET"), refused_commit, at_commit=True),
    )
    await lab.conductor.hostsync.on_report(lab.agent.report(host))
    assert (fault.raised, fault.seen) == (1, 2)
    assert (await lab.row(uuid)).vm_state == "active"
    await lab.conductor.hostsync.on_report(lab.agent.report(host))
    row = await lab.row(uuid)
    assert (row.vm_state, row.power_state) == ("error", PowerState.NOSTATE)
    async with lab.db.session() as s:
        (fault_row,) = (await s.execute(select(InstanceFault))).scalars()
    assert fault_row.message == VANISHED


async def test_time_out_hit_by_a_deadlock_fails_the_task_once(lab: Lab, faults: Faults) -> None:
    uuid = await _active(lab)
    long_ago = utcnow() - timedelta(seconds=lab.settings.build_timeout_seconds + 60)
    await lab.task(uuid, "rebooting", publish=False, task_started_at=long_ago)
    fault = faults.add(lab.db.engine, starts("INSERT INTO instance_faults"))
    assert await lab.conductor.reconciler.run_once() == 1
    row = await lab.row(uuid)
    assert (row.vm_state, row.task_state, row.lease_owner) == ("error", None, None)
    assert (fault.raised, fault.seen) == (1, 2)
    async with lab.db.session() as s:
        (fault_row,) = (await s.execute(select(InstanceFault))).scalars()
    assert fault_row.message.startswith("Timed out after")
    assert "reboot" not in [m["op"] for m in lab.agent.received]


async def test_retried_flow_gives_up_after_its_attempts() -> None:
    calls: list[int] = []

    @retried_flow("always busy", attempts=3)
    async def busy(n: int) -> int:
        calls.append(n)
        raise deadlock()

    with pytest.raises(OperationalError):
        await busy(7)
    assert calls == [7, 7, 7]


async def test_retried_flow_runs_other_errors_once_and_returns_results() -> None:
    calls: list[str] = []

    @retried_flow("buggy")
    async def buggy() -> None:
        calls.append("x")
        raise ValueError("not the database")

    with pytest.raises(ValueError):
        await buggy()
    assert calls == ["x"]

    @retried_flow("flaky")
    async def flaky() -> str:
        calls.append("y")
        if calls.count("y") == 1:
            raise deadlock()
        return "done"

    assert await flaky() == "done"
    assert calls.count("y") == 2
