"""Regression: a new IPMI client for a BMC whose session was logged out got pyghmi's
stale half-initialised session (TypeError in raw_command) instead of a fresh login."""

from __future__ import annotations

from stockyard.hwmgr.bmc import make_bmc
from stockyard.hwmgr.emulators.ipmi_emulator import IpmiEmulator
from tests.hwmgr_bmc.conftest import ipmi_creds


async def test_new_client_after_logout_logs_in_again(ipmi: IpmiEmulator) -> None:
    for expected in ("on", "off", "on"):
        bmc = make_bmc("ipmi", "127.0.0.1", ipmi.port("ipmi-07"), ipmi_creds(ipmi, "ipmi-07"))
        try:
            if expected == "on":
                await bmc.power_on()
            else:
                await bmc.power_off()
            assert await bmc.power_state() == expected
        finally:
            await bmc.aclose()
