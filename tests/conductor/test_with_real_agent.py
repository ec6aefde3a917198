"""The conductor with the real compute agent and its fake driver."""

from __future__ import annotations

from stockyard.compute.agent import ComputeAgent
from stockyard.compute.drivers.fake import FakeDriver
from tests.conductor.conftest import Lab


async def test_build_reboot_stop_delete_with_real_agent(lab: Lab) -> None:
    await lab.add_hosts(2, serve=False)
    agents = [ComputeAgent(h, FakeDriver(h), lab.bus, report_interval=3600) for h in lab.hosts]
    await lab.start()
    for a in agents:
        await a.subscribe()
    try:
        uuids = await lab.create(3)
        rows = await lab.settled(uuids)
        assert {r.vm_state for r in rows} == {"active"}, rows[0].vm_state
        await lab.task(uuids[0], "rebooting")
        await lab.task(uuids[1], "powering-off")
        await lab.task(uuids[2], "deleting")
        rows = await lab.settled(uuids)
        assert [r.vm_state for r in rows] == ["active", "stopped", "deleted"]
        for a in agents:
            await lab.conductor.handle(await a.host_report())
        rows = await lab.rows(uuids)
        assert [r.vm_state for r in rows] == ["active", "stopped", "deleted"]
        assert sum(h.vcpus_used for h in await lab.host_rows()) == 2
    finally:
        for a in agents:
            await a.stop()
