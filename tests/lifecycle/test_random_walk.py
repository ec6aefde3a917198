"""A seeded random walk over the whole lifecycle, with faults (issue 10).

The real API (in process), a ``SchedulerService``, a ``Conductor(remote_scheduling=True)``
and one real ``ComputeAgent`` with a ``FakeDriver`` per host share one database and one
in-memory bus, as ``stockyard up`` wires them, with a ``VolumeService``. A
``random.Random(seed)`` drives about 50 live servers through 2,000 API actions (create,
multi-create, group joins, delete, soft/hard reboot, stop, start, rebuild; interface
attach and detach, port updates, a default-group rule added and removed; volumes made,
attached, detached and deleted), a few at a time, while it injects faults:

- spawn failures: some hosts fail a share of spawns, some servers carry
  ``fake:fail_spawn`` (never build) or ``fake:fail_on_hosts`` (build after a reschedule);
- agent kills: an agent is stopped with its ops in flight (they are lost, the ops it is
  sent while down too) and a new agent is started on the same host (same hypervisor)
  later; the reconciler has to resend what was lost;
- dropped messages: a share of build/task hints, op requests and op results vanish;
- a slow host whose boots outlast an op lease (ops are resent while they run).

409 is a normal answer (the state does not allow the action); any 5xx fails the test.
Afterwards, with every agent up again and no more drops, the cloud must settle within
``build_timeout_seconds`` (plus leases): no server keeps a task, no reconciler pass
failed and no instance was quarantined for an illegal transition, every host's claims
equal the flavors of the live servers placed on it, no address or guest outlives its
server, no idle server shows an unfinished action, no hard group policy is broken, no
port keeps an interface op and every idle server's host applied its ports' newest
revision, no volume or attachment stays in a transitional state and every guest holds
exactly the volumes its server's rows say, and (after two more host reports) every idle
server's status matches its guest's power. During the walk a probe compares idle servers
with their guests too. It runs on SQLite, PostgreSQL and MariaDB.

Two bugs the walk found have their own deterministic tests at the end of this module: a
stale host report undoing a stop/start (fixed: reports carry when they were read), and an
op slower than its lease that never completed (fixed: the agent joins a resend of work
already running). The others' tests live with their code (rebuild of a server in ERROR,
interface results racing a server delete, lock orders, lost volume attaches...).

``STOCKYARD_WALK_SEED`` and ``STOCKYARD_WALK_ACTIONS`` override the seed and the length.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from stockyard.bus import contract
from stockyard.bus.memory import MemoryBus
from stockyard.compute.agent import ComputeAgent
from stockyard.compute.drivers.base import PowerState
from stockyard.compute.drivers.fake import FakeDriver
from stockyard.conductor.service import Conductor
from stockyard.db.base import Database
from stockyard.placement.service import SchedulerService
from stockyard.settings import Settings
from stockyard.volume.service import VolumeService
from tests.conftest import Cloud
from tests.lifecycle.walk_checks import check_invariants, server_history, settle
from tests.lifecycle.walk_harness import (
    ACTIONS,
    BUILD_TIMEOUT,
    HOST_UP_SECONDS,
    LEASE_SECONDS,
    P_DROP,
    REPORT_INTERVAL,
    SEED,
    TRANSITIONAL,
    UUID_RE,
    WALK_BUDGET_SECONDS,
    FaultyBus,
    Harness,
)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Short leases and deadlines, so recovery happens within the test; room for 50+."""
    return Settings(
        data_dir=tmp_path,
        api_port=8774,
        fake_boot_seconds=0.0,
        lease_seconds=LEASE_SECONDS,
        build_timeout_seconds=BUILD_TIMEOUT,
        reconcile_interval_seconds=0.3,
        max_build_attempts=3,
        scheduler_refresh_seconds=2.0,
        cpu_allocation_ratio=1.0,
        quota_instances=1000,
        quota_cores=10_000,
        quota_ram=10_000_000,
        quota_server_groups=50,
        quota_server_group_members=1000,
        quota_volumes=1000,
        volume_detach_timeout_seconds=1.0,  # detach leases of lease_seconds + 1 s
        quota_gigabytes=10_000,
    )


# -- the walk ----------------------------------------------------------------------------


# On the database servers too: their locking (row locks, deadlocks, READ COMMITTED) is
# where the walk found defects SQLite's one writer at a time cannot show.
@pytest.mark.backend("sqlite", "postgresql", "mariadb")
async def test_random_walk_settles_without_leaks(
    cloud: Cloud, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    started = time.monotonic()
    rng = random.Random(SEED)
    bus = cloud.state.bus
    assert isinstance(bus, MemoryBus)
    faults = FaultyBus(bus, random.Random(SEED + 1))
    faults.install()
    h = Harness(cloud, rng, faults, bus)
    await h.seed()
    scheduler = SchedulerService(
        cloud.state.db, bus, settings, scheduler_id="sched-walk", host_up_seconds=HOST_UP_SECONDS
    )
    conductor = Conductor(
        cloud.state.db, bus, settings, conductor_id="cond-walk", remote_scheduling=True,
        host_refresh_seconds=2.0, host_up_seconds=HOST_UP_SECONDS,
    )  # fmt: skip
    stoppables: list[Callable[[], Awaitable[None]]] = []
    try:
        await scheduler.start()
        stoppables.append(scheduler.stop)
        await conductor.start()
        stoppables.append(conductor.stop)
        volumes = VolumeService(cloud.state.db, bus, settings)
        await volumes.start()
        stoppables.append(volumes.stop)
        for host in h.hosts:
            await h.start_agent(host)
        # The agents' first reports mark the hosts up for the scheduler.
        await asyncio.sleep(0.3)
        await scheduler.hosts.refresh()
        await h.make_groups()

        faults.share = P_DROP
        wave = 0
        actions = 0
        while actions < ACTIONS and time.monotonic() - started < WALK_BUDGET_SECONDS:
            await h.faults_tick(wave)
            n = min(rng.choice([1, 2, 4, 6, 8]), ACTIONS - actions)
            await asyncio.gather(*(h.step() for _ in range(n)))
            actions += n
            wave += 1
            pause = rng.choice([0.0, 0.0, 0.0, 0.005, 0.01])
            await asyncio.sleep(pause)
            if wave % 10 == 0:
                await h.probe_power()
        walk_seconds = time.monotonic() - started

        # Settle: no more faults, every agent up; the reconciler must finish the rest.
        faults.share = 0.0
        await h.revive_all()
        settle_seconds = await settle(h, conductor, limit=BUILD_TIMEOUT + 4 * LEASE_SECONDS + 10)
        problems = await check_invariants(h)
        # Power: after two more rounds of host reports, every idle server shows its guest.
        walk_mismatches, h.mismatches = h.mismatches, []
        await asyncio.sleep(REPORT_INTERVAL + 1.0)
        await h.probe_power()
        final_mismatches = h.mismatches
        # What happened to them, for the failure message (the walk is timing-dependent).
        history = await server_history(
            h, [m.split()[0] for m in walk_mismatches + final_mismatches]
        )
        listed = await h.call("list", "GET", "/servers/detail", None, {200})
        statuses = Counter(s["status"] for s in listed.json()["servers"])
    finally:
        # What the roles log while they are stopped (a task cancelled mid-commit: SQLAlchemy's
        # "Exception during reset" on MariaDB) is shutdown's business, not the walk's.
        walked = list(caplog.records)
        for host in list(h.agents):
            await h.agents.pop(host).stop()
        for stop in reversed(stoppables):
            await stop()
        faults.uninstall()

    errors = [r for r in walked if r.levelno >= logging.ERROR]
    pass_failures = [r for r in errors if "reconciler pass failed" in r.getMessage()]
    illegal = [
        r
        for r in caplog.records
        if "IllegalTransition" in r.getMessage()
        or (r.exc_info and "IllegalTransition" in repr(r.exc_info[1]))
    ]
    warnings = Counter(
        UUID_RE.sub("<uuid>", r.getMessage())[:70]
        for r in caplog.records
        if r.levelno == logging.WARNING
    )
    total = time.monotonic() - started
    cut = f" (of {ACTIONS}: cut short by the time budget)" if actions < ACTIONS else ""
    print(
        f"\nrandom walk seed={SEED}: {actions} actions{cut} in {wave} waves,"
        f" walk {walk_seconds:.1f}s,"
        f" settled in {settle_seconds:.1f}s, total {total:.1f}s\n"
        f"  done: {dict(sorted(h.done.items()))}\n"
        f"  HTTP: {dict(sorted(h.status.items()))}\n"
        f"  faults: {dict(h.faults_injected)}, dropped {dict(faults.dropped)},"
        f" ops lost to dead agents {h.lost_ops}\n"
        f"  final servers: {dict(statuses)} ({len(h.live)} live)\n"
        f"  warnings: {dict(warnings.most_common(8))}\n"
        f"  errors logged: {len(errors)}\n"
        f"  messages: {dict(faults.sent)}, API time {h.api_seconds:.1f}s\n"
        f"  power probes: {h.probes}, mismatches during the walk {len(walk_mismatches)}:"
        f" {walk_mismatches[:5]}\n{history}"
    )
    assert not h.server_errors, "5xx answers:\n" + "\n".join(h.server_errors[:10])
    assert not h.unexpected, "unexpected answers:\n" + "\n".join(h.unexpected[:10])
    assert not pass_failures, pass_failures[0].getMessage()
    assert not illegal, "\n".join(r.getMessage() for r in illegal[:5])
    assert not (set(statuses) & TRANSITIONAL), statuses
    assert not problems, "\n".join(problems[:30])
    assert not final_mismatches, "\n".join(final_mismatches[:10])
    assert not walk_mismatches, "\n".join(walk_mismatches[:10])
    assert not errors, "\n".join(f"{r.name}: {r.getMessage()}" for r in errors[:10])


# -- the bugs the walk found, on their own ------------------------------


@pytest.mark.parametrize("batched", [False, True], ids=["host_report", "host_reports"])
async def test_stale_host_report_does_not_undo_a_stop(tmp_path: Path, batched: bool) -> None:
    """Reports and op results travel apart (and are applied concurrently): a report that
    was read while the guest ran must not overrule the stop the conductor applied since.
    A ``host_reports`` batch even says when it was read (``taken_at``)."""
    from tests.conductor.conftest import Lab, TestAgent

    db_path = tmp_path / "stale.db"
    db = Database(f"sqlite+aiosqlite:///{db_path}")
    await db.create_all()
    bus = MemoryBus()
    lab = Lab(db, bus, Settings(data_dir=tmp_path, lease_seconds=30), TestAgent(bus))
    (host,) = await lab.add_hosts(1, serve=False)
    agent = ComputeAgent(host, FakeDriver(host), bus, report_interval=3600)
    await lab.start()
    await agent.subscribe()
    try:
        (uuid,) = await lab.create(1)
        await lab.settled([uuid])
        report = await agent.host_report()  # read while the guest runs...
        read_at = time.time()
        await lab.task(uuid, "powering-off")
        (row,) = await lab.settled([uuid])
        assert row.vm_state == "stopped"
        assert agent.driver.guests[uuid].power_state is PowerState.SHUTDOWN
        # ... and applied after the stop's result.
        if batched:
            batch = contract.HostReports(taken_at=read_at, reports=[report])
            await lab.conductor.handle(contract.encode(batch))
        else:
            await lab.conductor.handle(report)
        row = await lab.row(uuid)
        assert (row.vm_state, row.power_state) == ("stopped", PowerState.SHUTDOWN)
    finally:
        await agent.stop()
        for c in lab.conductors:
            await c.stop()
        await bus.close()
        await db.dispose()


async def test_op_slower_than_its_lease_completes(tmp_path: Path) -> None:
    """The walk's slow host (boots take longer than an op lease) times its reboots and
    rebuilds out. Here: a reboot of 0.5 s with an op lease of 0.3 s and a 3 s deadline."""
    from tests.conductor.conftest import Lab, TestAgent

    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'slow.db'}")
    await db.create_all()
    bus = MemoryBus()
    settings = Settings(
        data_dir=tmp_path, lease_seconds=30, build_timeout_seconds=3,
        reconcile_interval_seconds=0.05,
    )  # fmt: skip
    lab = Lab(db, bus, settings, TestAgent(bus))
    (host,) = await lab.add_hosts(1, serve=False)
    driver = FakeDriver(host)
    agent = ComputeAgent(host, driver, bus, report_interval=3600)
    await lab.start(op_lease_seconds=0.3, orphan_grace_seconds=0.05)
    await agent.subscribe()
    reconciling = asyncio.create_task(lab.conductor.reconciler.run_forever())
    try:
        (uuid,) = await lab.create(1)
        await lab.settled([uuid])
        driver.boot_seconds = 0.5
        await lab.task(uuid, "rebooting")
        (row,) = await lab.wait([uuid], lambda r: r.task_state is None, limit=10.0)
        boots = driver.guests[uuid].boot_count
        assert row.vm_state == "active", f"{row.vm_state} after {boots} boots"
    finally:
        reconciling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reconciling
        await agent.stop()
        for c in lab.conductors:
            await c.stop()
        await bus.close()
        await db.dispose()
