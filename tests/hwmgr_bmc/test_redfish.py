"""The Redfish driver against a real sushy-tools emulator over HTTP."""

from __future__ import annotations

import asyncio
import logging

import pytest
import sushy
from pydantic import SecretStr

from stockyard.hwmgr.bmc import BMCCredentials, BMCError, RetryPolicy, make_bmc
from stockyard.hwmgr.emulators.faults import BlackholeTCP, closed_tcp_port
from stockyard.hwmgr.emulators.redfish import RedfishEmulator
from tests.hwmgr_bmc.conftest import FAST_RETRY, redfish_creds


def _bmc(emu: RedfishEmulator, index: int, **kw: object):  # type: ignore[no-untyped-def]
    return make_bmc(
        "redfish", "127.0.0.1", emu.port, redfish_creds(emu), emu.systems[index].uuid, **kw
    )


async def test_power_on_off_cycle_and_state(redfish: RedfishEmulator) -> None:
    bmc = _bmc(redfish, 0, retry=FAST_RETRY)
    assert await bmc.power_state() == "off"
    await bmc.power_on()
    assert await bmc.wait_power("on", timeout=15) == "on"
    await bmc.power_cycle()
    assert await bmc.wait_power("on", timeout=15) == "on"
    await bmc.power_off()
    assert await bmc.wait_power("off", timeout=15) == "off"
    await bmc.power_cycle()  # off -> cycle powers it on
    assert await bmc.wait_power("on", timeout=15) == "on"


async def test_system_by_path_and_single_default(redfish: RedfishEmulator) -> None:
    by_path = make_bmc(
        "redfish",
        "127.0.0.1",
        redfish.port,
        redfish_creds(redfish),
        redfish.system_path(redfish.systems[3]),
    )
    assert await by_path.power_state() == "off"
    none = make_bmc("redfish", "127.0.0.1", redfish.port, redfish_creds(redfish), None)
    with pytest.raises(BMCError, match="exactly one"):
        await none.power_state()


async def test_one_time_pxe_boot(redfish: RedfishEmulator) -> None:
    bmc = _bmc(redfish, 1)
    await bmc.set_boot_pxe_once()

    def boot_target() -> object:
        client = sushy.Sushy(
            redfish.url + "/redfish/v1/",
            username=redfish.username,
            password=redfish.password.get_secret_value(),
        )
        return client.get_system(redfish.system_path(redfish.systems[1])).boot.target

    # sushy-tools records the target (it reports Enabled as Continuous whatever is sent).
    assert await asyncio.to_thread(boot_target) == sushy.BOOT_SOURCE_TARGET_PXE


async def test_unknown_system_is_fatal(redfish: RedfishEmulator) -> None:
    bmc = make_bmc("redfish", "127.0.0.1", redfish.port, redfish_creds(redfish), "no-such")
    with pytest.raises(BMCError, match="has no system 'no-such'"):
        await bmc.power_state()


async def test_bad_password_is_not_retried(
    redfish: RedfishEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = BMCCredentials(username=redfish.username, password=SecretStr("hunter2-wrong"))
    bmc = make_bmc(
        "redfish", "127.0.0.1", redfish.port, wrong, redfish.systems[0].uuid, retry=FAST_RETRY
    )
    caplog.set_level(logging.DEBUG)
    with pytest.raises(BMCError) as info:
        await bmc.power_on()
    assert info.value.message == f"Redfish BMC 127.0.0.1:{redfish.port} refused: 401 Unauthorized"
    assert "attempt" not in caplog.text  # no retry was logged
    assert "hunter2-wrong" not in caplog.text
    assert redfish.password.get_secret_value() not in caplog.text


async def test_blackholed_bmc_times_out_retries_then_readable_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="stockyard.hwmgr.bmc")
    creds = BMCCredentials(username="admin", password=SecretStr("s3cret-blackhole"))
    retry = RetryPolicy(attempts=3, base_delay=0.05, max_delay=0.1, call_timeout=1.0)
    with BlackholeTCP() as hole:
        bmc = make_bmc("redfish", "127.0.0.1", hole.port, creds, "x", retry=retry)
        with pytest.raises(BMCError) as info:
            await bmc.power_state()
    message = info.value.message
    assert message.startswith(f"Redfish BMC 127.0.0.1:{hole.port}")
    assert "gave up after 3 attempts" in message
    assert caplog.text.count("attempt") >= 3
    assert "s3cret-blackhole" not in caplog.text


async def test_refused_connection_is_retried() -> None:
    port = closed_tcp_port()
    creds = BMCCredentials(username="admin", password=SecretStr("pw"))
    bmc = make_bmc("redfish", "127.0.0.1", port, creds, "x", retry=FAST_RETRY)
    with pytest.raises(BMCError, match=r"unreachable: connection refused .*3 attempts"):
        await bmc.power_off()


async def test_twenty_plus_nodes_on_one_emulator_concurrently(redfish: RedfishEmulator) -> None:
    bmcs = [_bmc(redfish, i, retry=FAST_RETRY) for i in range(len(redfish.systems))]
    assert len(bmcs) >= 20

    async def deploy(bmc) -> str:  # type: ignore[no-untyped-def]
        await bmc.set_boot_pxe_once()
        await bmc.power_on()
        return await bmc.wait_power("on", timeout=20)  # type: ignore[no-any-return]

    assert await asyncio.gather(*(deploy(b) for b in bmcs)) == ["on"] * len(bmcs)
