"""A placer whose host view is stale on every host must still refuse readably.

In a burst on two placers, the other one fills hosts this one still sees free. Each lost
claim taught the loser one host, so a single create could lose ten claims in a row on
hosts that were long full and end in "taken by concurrent builds 10 times in a row"
(CI saw it on MariaDB) instead of the scheduler's per-filter refusal.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select, update

from stockyard.bus.memory import MemoryBus
from stockyard.conductor.service import Conductor
from stockyard.db.base import Database
from stockyard.db.models import Host, Instance, InstanceFault
from stockyard.placement.service import SchedulerService
from stockyard.settings import Settings
from tests.conductor.conftest import TestAgent
from tests.scheduler.test_burst_placement import VM, _create, _lab, _settled


@pytest.mark.backend("sqlite", "postgresql", "mariadb")
async def test_a_view_stale_on_every_host_ends_in_the_filters_reason(
    burst_db: Database, tmp_path: Path
) -> None:
    db = burst_db
    settings = Settings(data_dir=tmp_path, lease_seconds=60, max_build_attempts=3)
    bus = MemoryBus()
    agent = TestAgent(bus)
    await agent.serve(await _lab(db))
    # No timed refresh: only what the flow itself reloads may correct its view.
    scheduler = SchedulerService(
        db, bus, settings, scheduler_id="s0", host_up_seconds=86400, host_refresh_seconds=3600
    )
    conductor = Conductor(db, bus, settings, conductor_id="c0", remote_scheduling=True)
    try:
        await scheduler.start()
        await conductor.start(background=False)
        # Another placer fills every hypervisor behind this scheduler's back.
        async with db.session() as s:
            await s.execute(
                update(Host).where(Host.kind != "baremetal").values(vcpus_used=Host.vcpus)
            )
        uuid = await _create(db, bus, "p3", VM, None)
        rows = await _settled(db, 1)
    finally:
        await scheduler.stop()
        await conductor.stop()
        await bus.close()
    assert [(r.uuid, r.vm_state) for r in rows] == [(uuid, "error")]
    async with db.session() as s:
        message = (
            await s.execute(
                select(InstanceFault.message).where(InstanceFault.instance_uuid == uuid)
            )
        ).scalar_one()
    assert message.startswith("No valid host was found"), message
    assert " rejected by " in message, message
    assert "concurrent builds" not in message, message
    async with db.session() as s:
        assert (
            await s.execute(select(Instance.host).where(Instance.uuid == uuid))
        ).scalar() is None
