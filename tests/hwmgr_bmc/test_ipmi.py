"""The IPMI driver against pyghmi IPMI endpoints over real UDP sockets."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil

import pytest

from stockyard.hwmgr.bmc import BMCError, RetryPolicy, make_bmc
from stockyard.hwmgr.emulators.ipmi_emulator import IpmiEmulator
from tests.hwmgr_bmc.conftest import FAST_RETRY, ipmi_creds


def _bmc(emu: IpmiEmulator, name: str, retry: RetryPolicy = FAST_RETRY):  # type: ignore[no-untyped-def]
    return make_bmc("ipmi", "127.0.0.1", emu.port(name), ipmi_creds(emu, name), retry=retry)


async def test_power_on_off_cycle_and_state(ipmi: IpmiEmulator) -> None:
    bmc = _bmc(ipmi, "ipmi-00")
    try:
        assert await bmc.power_state() == "off"
        await bmc.power_on()
        assert await bmc.wait_power("on", timeout=5) == "on"
        await bmc.power_cycle()
        await bmc.power_off()
        assert await bmc.power_state() == "off"
        await bmc.power_cycle()  # off -> on
        assert await bmc.power_state() == "on"
    finally:
        await bmc.aclose()
    calls = (await ipmi.state("ipmi-00"))["calls"]
    assert calls == ["on", "reset", "off", "on"]


async def test_one_time_pxe_is_used_by_the_next_boot_only(ipmi: IpmiEmulator) -> None:
    bmc = _bmc(ipmi, "ipmi-01")
    try:
        await bmc.set_boot_pxe_once()
        state = await ipmi.state("ipmi-01")
        assert (state["bootdev"], state["boot_persistent"]) == ("network", False)
        await bmc.power_on()
        assert (await ipmi.state("ipmi-01"))["last_boot"] == "network"
        await bmc.power_cycle()
        assert (await ipmi.state("ipmi-01"))["last_boot"] == "default"
    finally:
        await bmc.aclose()


async def test_unresponsive_bmc_retries_then_readable_error(
    ipmi: IpmiEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="stockyard.hwmgr.bmc")
    retry = RetryPolicy(attempts=2, base_delay=0.05, max_delay=0.1, call_timeout=10)
    bmc = _bmc(ipmi, "dead", retry)
    with pytest.raises(BMCError) as info:
        await bmc.power_state()
    port = ipmi.port("dead")
    assert info.value.message == (
        f"IPMI BMC 127.0.0.1:{port} did not answer: no reply (timed out) "
        "(power state; gave up after 2 attempts)"
    )
    assert "attempt 2/2 failed" in caplog.text


async def test_wrong_password_is_fatal_and_not_retried(
    ipmi: IpmiEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bmc = _bmc(ipmi, "refusing")
    with pytest.raises(BMCError) as info:
        await bmc.power_on()
    port = ipmi.port("refusing")
    assert info.value.message == f"IPMI BMC 127.0.0.1:{port} refused: Incorrect password provided"
    assert "attempt" not in caplog.text
    assert ipmi.nodes["refusing"].password.get_secret_value() not in caplog.text


async def test_ten_plus_endpoints_concurrently(ipmi: IpmiEmulator) -> None:
    names = [n for n in ipmi.nodes if n.startswith("ipmi-")]
    assert len(names) >= 10
    bmcs = [_bmc(ipmi, n) for n in names]

    async def deploy(bmc) -> str:  # type: ignore[no-untyped-def]
        try:
            await bmc.power_off()
            await bmc.set_boot_pxe_once()
            await bmc.power_on()
            return await bmc.wait_power("on", timeout=5)  # type: ignore[no-any-return]
        finally:
            await bmc.aclose()

    assert await asyncio.gather(*(deploy(b) for b in bmcs)) == ["on"] * len(bmcs)
    for name in names:
        assert (await ipmi.state(name))["last_boot"] == "network"


async def test_a_dead_bmc_does_not_stall_the_others(ipmi: IpmiEmulator) -> None:
    dead = _bmc(ipmi, "dead", RetryPolicy(attempts=1, call_timeout=10))
    alive = _bmc(ipmi, "ipmi-05")
    dead_call = asyncio.create_task(dead.power_state())
    try:
        await asyncio.sleep(0.2)
        assert not dead_call.done()
        await alive.power_on()
        assert await alive.power_state() == "on"
        assert not dead_call.done()  # the live BMC answered while the dead one hung
    finally:
        await alive.aclose()
        with pytest.raises(BMCError):
            await dead_call


@pytest.mark.skipif(shutil.which("ipmitool") is None, reason="ipmitool is not installed")
async def test_ipmitool_lanplus_sees_what_the_driver_did(ipmi: IpmiEmulator) -> None:
    bmc = _bmc(ipmi, "ipmi-02")
    try:
        await bmc.power_on()
    finally:
        await bmc.aclose()
    node = ipmi.nodes["ipmi-02"]
    env = dict(os.environ, IPMI_PASSWORD=node.password.get_secret_value())

    async def ipmitool(*args: str) -> str:
        proc = await asyncio.create_subprocess_exec(
            "ipmitool",
            "-I",
            "lanplus",
            "-H",
            "127.0.0.1",
            "-p",
            str(ipmi.port("ipmi-02")),
            "-U",
            node.username,
            "-E",
            *args,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
        assert proc.returncode == 0, err.decode()
        return out.decode()

    assert "Chassis Power is on" in await ipmitool("power", "status")
    bmc = _bmc(ipmi, "ipmi-02")
    try:
        await bmc.set_boot_pxe_once()
    finally:
        await bmc.aclose()
    assert "Force PXE" in await ipmitool("chassis", "bootparam", "get", "5")


async def test_bmc_that_stops_answering_mid_session_then_recovers(ipmi: IpmiEmulator) -> None:
    retry = RetryPolicy(attempts=1, call_timeout=15)
    bmc = _bmc(ipmi, "ipmi-09", retry)
    try:
        assert await bmc.power_state() == "off"
        await ipmi.set("ipmi-09", "unresponsive", True)
        with pytest.raises(BMCError, match="did not answer"):
            await bmc.power_on()
        await ipmi.set("ipmi-09", "unresponsive", False)
        await bmc.power_on()
        assert await bmc.power_state() == "on"
    finally:
        await bmc.aclose()


async def test_a_call_that_timed_out_never_runs_late(ipmi: IpmiEmulator) -> None:
    """A power command queued behind a stuck call to the same BMC gives up with its
    caller: when the stuck call ends, the abandoned command is not sent after all."""
    retry = RetryPolicy(attempts=1, call_timeout=1)
    bmc = _bmc(ipmi, "ipmi-07", retry)
    lock = bmc._lock  # what a stuck call to this endpoint holds
    lock.acquire()
    try:
        with pytest.raises(BMCError):
            await bmc.power_on()
        await asyncio.sleep(0.5)
    finally:
        lock.release()
    await asyncio.sleep(1.5)  # the queued thread would have run by now
    try:
        assert (await ipmi.state("ipmi-07"))["calls"] == []
        assert await bmc.power_state() == "off"
    finally:
        await bmc.aclose()
