"""Regression: parallel deploys on IPMI timed out.

Every hwmgr task opens its own IPMI session and logs out at the end, and pyghmi's client
multiplexes all BMCs over one UDP socket. A new login to one emulated BMC made pyghmi's
server drop this client's sessions with *every* endpoint of the emulator process, so
the other BMCs' commands went unanswered until the call timed out.
"""

from __future__ import annotations

import asyncio

from stockyard.hwmgr.bmc import RetryPolicy, make_bmc
from stockyard.hwmgr.emulators.ipmi_emulator import IpmiEmulator
from tests.hwmgr_bmc.conftest import ipmi_creds

# One attempt: a retry would log in again and hide the lost session.
ONE_TRY = RetryPolicy(attempts=1, call_timeout=30)


async def test_eight_parallel_power_cycles_with_fresh_sessions(ipmi: IpmiEmulator) -> None:
    names = [f"ipmi-{i:02d}" for i in range(8)]

    async def deploy_three_times(name: str) -> list[str]:
        seen = []
        for _ in range(3):  # a new client per round, as hwmgr makes one per task
            bmc = make_bmc(
                "ipmi", "127.0.0.1", ipmi.port(name), ipmi_creds(ipmi, name), retry=ONE_TRY
            )
            try:
                await bmc.power_off()
                await bmc.set_boot_pxe_once()
                await bmc.power_cycle()
                seen.append(await bmc.wait_power("on", timeout=30))
            finally:
                await bmc.aclose()
        return seen

    results = await asyncio.gather(*(deploy_three_times(n) for n in names))
    assert results == [["on", "on", "on"]] * len(names)
    for name in names:
        state = await ipmi.state(name)
        assert state["power"] == "on" and state["last_boot"] == "network", state
        assert state["calls"].count("on") == 3, state["calls"]
