"""The BMC contract's policy (retry, timeouts, limits, secrets) with a test double."""

from __future__ import annotations

import asyncio
import logging

import pytest
from pydantic import SecretStr

from stockyard.hwmgr.bmc import (
    BMC,
    BMCConnectionError,
    BMCCredentials,
    BMCError,
    BMCFatalError,
    BMCPower,
    RetryPolicy,
    concurrency_limits,
    make_bmc,
    set_concurrency_limits,
)

CREDS = BMCCredentials(username="root", password=SecretStr("Tr0ub4dor&3"))
QUICK = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.02, call_timeout=0.5)


class CountingBMC(BMC):
    """Async raw calls that count how many run at once (and can fail on demand)."""

    driver = "Fake"
    running = 0
    peak = 0

    def __init__(self, address: str, port: int = 623, **kw: object) -> None:
        super().__init__(address, port, CREDS, retry=QUICK)
        self.failures: list[BaseException] = []
        self.calls = 0
        self.state: BMCPower = "off"
        self.hang = False

    async def _step(self) -> None:
        self.calls += 1
        cls = type(self)
        cls.running += 1
        cls.peak = max(cls.peak, cls.running)
        try:
            if self.hang:
                await asyncio.sleep(3600)
            await asyncio.sleep(0.01)
            if self.failures:
                raise self.failures.pop(0)
        finally:
            cls.running -= 1

    async def _power_state(self) -> BMCPower:
        await self._step()
        return self.state

    async def _power_on(self) -> None:
        await self._step()
        self.state = "on"

    async def _power_off(self) -> None:
        await self._step()
        self.state = "off"

    async def _power_cycle(self) -> None:
        await self._step()
        self.state = "on"

    async def _set_boot_pxe_once(self) -> None:
        await self._step()


class SyncBMC(CountingBMC):
    """Blocking raw calls: run on the BMC thread pool."""

    def _power_state(self) -> BMCPower:  # type: ignore[override]
        return "on"


@pytest.fixture(autouse=True)
def _reset_counters() -> None:
    CountingBMC.running = CountingBMC.peak = 0


async def test_connection_errors_are_retried_then_succeed() -> None:
    bmc = CountingBMC("10.0.0.1")
    bmc.failures = [BMCConnectionError("Fake BMC 10.0.0.1:623 unreachable")] * 2
    await bmc.power_on()
    assert bmc.calls == 3
    assert bmc.state == "on"


async def test_gives_up_with_the_bmc_message() -> None:
    bmc = CountingBMC("10.0.0.1")
    bmc.failures = [BMCConnectionError("Fake BMC 10.0.0.1:623 unreachable")] * 10
    with pytest.raises(BMCError) as info:
        await bmc.power_off()
    assert type(info.value) is BMCError
    assert info.value.message == (
        "Fake BMC 10.0.0.1:623 unreachable (power off; gave up after 4 attempts)"
    )
    assert bmc.calls == 4


async def test_fatal_error_is_not_retried() -> None:
    bmc = CountingBMC("10.0.0.1")
    bmc.failures = [BMCFatalError("Fake BMC 10.0.0.1:623 refused: 401 Unauthorized")]
    with pytest.raises(BMCError, match=r"^Fake BMC 10.0.0.1:623 refused: 401 Unauthorized$"):
        await bmc.power_cycle()
    assert bmc.calls == 1


async def test_a_hung_call_times_out_per_attempt() -> None:
    bmc = CountingBMC("10.0.0.1")
    bmc.hang = True
    with pytest.raises(BMCError, match=r"did not answer within 0\.5s .*4 attempts"):
        await bmc.set_boot_pxe_once()
    assert bmc.calls == 4


async def test_sync_raw_calls_run_in_threads() -> None:
    assert await SyncBMC("10.0.0.2").power_state() == "on"


async def test_wait_power_polls_and_reports_a_stuck_state() -> None:
    bmc = CountingBMC("10.0.0.1")
    assert await bmc.wait_power("off", timeout=1) == "off"
    with pytest.raises(BMCError, match=r"power is still off after 0\.2s"):
        await bmc.wait_power("on", timeout=0.2, interval=0.05)
    with pytest.raises(ValueError):
        await bmc.wait_power("sideways", timeout=1)


async def test_global_limit_is_honoured() -> None:
    set_concurrency_limits(global_limit=5, per_address=4)
    assert concurrency_limits() == (5, 4)
    bmcs = [CountingBMC(f"10.0.1.{i}") for i in range(40)]
    await asyncio.gather(*(b.power_on() for b in bmcs))
    assert CountingBMC.peak == 5
    assert all(b.state == "on" for b in bmcs)


async def test_per_bmc_limit_is_honoured() -> None:
    set_concurrency_limits(global_limit=50, per_address=2)
    bmcs = [CountingBMC("10.0.2.1") for _ in range(20)]  # 20 systems behind one BMC
    await asyncio.gather(*(b.power_state() for b in bmcs))
    assert CountingBMC.peak == 2


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError):
        set_concurrency_limits(global_limit=0)


async def test_secrets_stay_out_of_repr_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    bmc = CountingBMC("10.0.0.9")
    bmc.failures = [BMCConnectionError("Fake BMC 10.0.0.9:623 unreachable")] * 10
    with pytest.raises(BMCError):
        await bmc.power_on()
    for text in (repr(CREDS), str(CREDS), repr(bmc), caplog.text, CREDS.model_dump_json()):
        assert "Tr0ub4dor&3" not in text
    for driver in ("redfish", "ipmi"):
        assert "Tr0ub4dor&3" not in repr(make_bmc(driver, "10.0.0.9", 623, CREDS))  # type: ignore[arg-type]


def test_make_bmc_rejects_unknown_driver() -> None:
    with pytest.raises(ValueError, match="unknown BMC driver 'amt'"):
        make_bmc("amt", "10.0.0.1", 623, CREDS)  # type: ignore[arg-type]


def test_backoff_grows_and_is_capped() -> None:
    policy = RetryPolicy(base_delay=1, max_delay=4, jitter=0)
    assert [policy.delay(n) for n in range(4)] == [1, 2, 4, 4]
    jittered = RetryPolicy(base_delay=1, max_delay=4, jitter=0.25)
    assert all(0.75 <= jittered.delay(0) <= 1.25 for _ in range(50))
