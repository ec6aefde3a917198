"""The lab's enrolment through hwmgr: a node whose BMC does not answer is left out of
the run with a warning instead of failing ``stockyard up`` (measured: one silent IPMI
BMC among 1,000 stopped the whole cloud at start)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from stockyard.compute.drivers.baremetal_client import HwmgrClient
from stockyard.hwmgr.emulators.ipmi import IpmiNodeSpec
from stockyard.hwmgr.emulators.ipmi_emulator import IpmiEmulator
from stockyard.hwmgr.settings import HwmgrSettings
from stockyard.lab.baremetal import _enroll_node
from stockyard.lab.hwmgr_child import HwmgrChild
from tests.lab.test_hwmgr_child import TOKEN, child_settings


def _settings(data_dir: Path) -> HwmgrSettings:
    # A silent BMC fails fast: one try (an IPMI login alone takes about 1 s).
    return child_settings(
        data_dir, bmc_call_timeout_seconds=5.0, bmc_attempts=1, power_sync_interval_seconds=0
    )


def _body(emu: IpmiEmulator, spec: IpmiNodeSpec, mac: str) -> dict[str, object]:
    return {
        "name": spec.name,
        "region": "RegionOne",
        "az": "az1",
        "rack": "r1",
        "resource_class": "BM_GOLD",
        "cpus": 8,
        "memory_mb": 16384,
        "disk_gb": 100,
        "macs": [mac],
        "bmc": {
            "driver": "ipmi",
            "address": emu.address,
            "port": emu.port(spec.name),
            "username": spec.username,
            "password": spec.password.get_secret_value(),
        },
    }


async def test_a_node_whose_bmc_does_not_answer_is_left_out_not_fatal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    good = IpmiNodeSpec(name="bm-good")
    silent = IpmiNodeSpec(name="bm-silent", unresponsive=True)
    async with IpmiEmulator([good, silent]) as emu:
        child = await HwmgrChild.start(_settings(tmp_path / "hw"), install_seconds=0, host_id="t")
        client = HwmgrClient(child.url, TOKEN)
        try:
            with caplog.at_level(logging.WARNING, logger="stockyard.lab.baremetal"):
                kept = await _enroll_node(client, _body(emu, good, "52:54:00:00:00:01"), None)
                left = await _enroll_node(client, _body(emu, silent, "52:54:00:00:00:02"), None)
            nodes = {n["name"]: n for n in await client.nodes()}
        finally:
            await client.close()
            await child.stop()
    assert kept == nodes["bm-good"]["uuid"]
    assert nodes["bm-good"]["provision_state"] == "available"
    assert left is None
    # hwmgr keeps it enrolled with the reason; the next start manages it again.
    assert nodes["bm-silent"]["provision_state"] == "enrolled"
    assert "did not answer" in (nodes["bm-silent"]["last_error"] or "")
    warned = [r.getMessage() for r in caplog.records if "bm-silent" in r.getMessage()]
    assert warned and "left out of this run" in warned[0]
