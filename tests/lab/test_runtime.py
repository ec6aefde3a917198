"""The lab's agents: one per fake hypervisor, boot time precedence, ops end to end."""

from __future__ import annotations

from pathlib import Path

from stockyard.compute.drivers.base import InstanceSpec
from stockyard.compute.drivers.fake import FakeDriver
from stockyard.lab.model import make_lab
from stockyard.lab.runtime import boot_seconds_for, build_lab_pool, start_lab_agents
from stockyard.settings import Settings
from tests.compute.busutil import RecordingBus


def test_boot_seconds_precedence(tmp_path: Path) -> None:
    lab_paced, lab_default = make_lab(boot_seconds=1.5), make_lab()
    defaults = Settings(data_dir=tmp_path)
    explicit = Settings(data_dir=tmp_path, fake_boot_seconds=0.0)
    assert boot_seconds_for(lab_paced, defaults) == 1.5
    assert boot_seconds_for(lab_default, defaults) == defaults.fake_boot_seconds
    assert boot_seconds_for(lab_paced, explicit) == 0.0


def test_pool_has_one_agent_per_hypervisor(tmp_path: Path) -> None:
    lab = make_lab(regions=1, azs=2, racks=3, hosts_per_rack=2, vcpus=8, fail_spawn=0.25, seed=3)
    pool = build_lab_pool(lab, RecordingBus(), Settings(data_dir=tmp_path, fake_boot_seconds=0))
    assert sorted(pool.agents) == sorted(h.name for h in lab.hypervisors())
    driver = pool.agent("regionone-az2-r3-hv02").driver
    assert isinstance(driver, FakeDriver)
    assert (driver.vcpus, driver.boot_seconds, driver.fail_spawn) == (8, 0, 0.25)


async def test_lab_agents_report_and_spawn(tmp_path: Path) -> None:
    bus = RecordingBus()
    lab = make_lab(hosts_per_rack=1)
    pool = await start_lab_agents(lab, bus, Settings(data_dir=tmp_path, fake_boot_seconds=0))
    try:
        reports = [r for m in bus.on("conductor.reports", "host_reports") for r in m["reports"]]
        assert {r["host"] for r in reports} == {h.name for h in lab.hypervisors()}
        host = "regionone-az1-r2-hv01"
        msg = {
            "type": "op",
            "op": "spawn",
            "op_id": "op-1",
            "reboot_type": "SOFT",
            "instance": InstanceSpec(uuid="i-1", hostname="vm1", host=host).to_dict(),
            "request_id": "req",
        }
        await bus.publish(f"compute.{host}", msg)
        await bus.wait_for(lambda _: bool(bus.on("conductor", "op_result")))
        [result] = bus.on("conductor", "op_result")
        assert result["ok"] and result["host"] == host
    finally:
        await pool.stop()
        await bus.close()
