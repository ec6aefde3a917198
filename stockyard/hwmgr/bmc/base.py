"""The BMC contract: drivers implement raw calls, this base class owns the policy.

Modelled on MAAS's power drivers: a subclass implements only ``_power_state``,
``_power_on``, ``_power_off``, ``_power_cycle`` and ``_set_boot_pxe_once`` (sync or async)
and raises ``BMCConnectionError`` (retried: unreachable, timed out) or ``BMCFatalError``
(never retried: bad credentials, unsupported). The public async methods add a per-call
timeout, retries with exponential backoff and jitter, concurrency limits (one semaphore
per BMC address and one for the whole process) and turn every failure into ``BMCError``
whose message is the BMC's own text, readable by an operator.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr

LOG = logging.getLogger(__name__)

BMCPower = Literal["on", "off"]
T = TypeVar("T")


class BMCError(Exception):
    """A BMC call failed for good; ``message`` is readable by an operator."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BMCConnectionError(BMCError):
    """The BMC did not answer (refused connection, timeout, lost session): retried."""


class BMCFatalError(BMCError):
    """The BMC answered no (bad credentials, unsupported request): never retried."""


class BMCCredentials(BaseModel):
    """Login for a BMC; the password is a ``SecretStr`` so repr and logs never show it."""

    model_config = ConfigDict(frozen=True)

    username: str = Field(min_length=1, max_length=64)
    password: SecretStr


class RetryPolicy(BaseModel):
    """How a BMC call is retried: ``attempts`` tries, delays ``base * 2**n`` (capped)."""

    model_config = ConfigDict(frozen=True)

    attempts: int = Field(default=3, ge=1)
    base_delay: float = Field(default=0.5, ge=0)
    max_delay: float = Field(default=8.0, ge=0)
    jitter: float = Field(default=0.25, ge=0, le=1)
    call_timeout: float = Field(default=20.0, gt=0)

    def delay(self, attempt: int) -> float:
        """Backoff before retry number ``attempt`` (0-based), with +/- jitter."""
        raw = min(self.max_delay, self.base_delay * (2.0**attempt))
        return max(0.0, raw * (1 + self.jitter * (2 * random.random() - 1)))


class _Limits:
    """Process-wide semaphores: one global, one per BMC address (created lazily)."""

    def __init__(self, global_limit: int = 64, per_address: int = 4) -> None:
        self.global_limit = global_limit
        self.per_address = per_address
        self._global: asyncio.Semaphore | None = None
        self._by_address: dict[str, asyncio.Semaphore] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self.executor = ThreadPoolExecutor(global_limit, thread_name_prefix="bmc")

    def _reset_if_new_loop(self) -> None:
        # Semaphores bind to the loop that first waits on them; tests run one loop each.
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop = loop
            self._global = asyncio.Semaphore(self.global_limit)
            self._by_address = {}

    def for_address(self, address: str) -> tuple[asyncio.Semaphore, asyncio.Semaphore]:
        self._reset_if_new_loop()
        assert self._global is not None
        sem = self._by_address.get(address)
        if sem is None:
            sem = self._by_address[address] = asyncio.Semaphore(self.per_address)
        return self._global, sem


_LIMITS = _Limits()


def set_concurrency_limits(global_limit: int = 64, per_address: int = 4) -> None:
    """Bound BMC calls in flight: at most ``global_limit`` in the process and
    ``per_address`` to one BMC endpoint (address:port; a Redfish service managing
    many systems counts once).
    Call at start-up, before BMC calls run."""
    global _LIMITS
    if global_limit < 1 or per_address < 1:
        raise ValueError("concurrency limits must be >= 1")
    old = _LIMITS
    _LIMITS = _Limits(global_limit, per_address)
    old.executor.shutdown(wait=False)


def concurrency_limits() -> tuple[int, int]:
    """The current ``(global_limit, per_address)``."""
    return _LIMITS.global_limit, _LIMITS.per_address


async def run_blocking(func: Callable[..., T], *args: Any) -> T:
    """Run a blocking driver call on the BMC thread pool (sized to the global limit,
    so BMC calls never starve ``asyncio.to_thread`` users of the default pool)."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_LIMITS.executor, functools.partial(func, *args))


class BMC(ABC):
    """One node's BMC. Subclasses implement the ``_raw`` calls; callers use the public
    async methods, which retry connection errors and raise ``BMCError`` in the end."""

    driver: str = "base"

    def __init__(
        self,
        address: str,
        port: int,
        credentials: BMCCredentials,
        system_id: str | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.address = address
        self.port = port
        self.credentials = credentials
        self.system_id = system_id
        self.retry = retry or RetryPolicy()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.address}:{self.port}, "
            f"user={self.credentials.username!r}, system={self.system_id!r})"
        )

    @property
    def label(self) -> str:
        """How messages name this BMC, e.g. ``Redfish BMC 127.0.0.1:8000``."""
        return f"{self.driver} BMC {self.address}:{self.port}"

    # -- what a driver implements (sync or async) ---------------------------------------
    @abstractmethod
    def _power_state(self) -> BMCPower | Awaitable[BMCPower]:
        """Current power state, ``"on"`` or ``"off"``."""

    @abstractmethod
    def _power_on(self) -> Awaitable[None] | None:
        """Ask the BMC to power the system on."""

    @abstractmethod
    def _power_off(self) -> Awaitable[None] | None:
        """Hard power off."""

    @abstractmethod
    def _power_cycle(self) -> Awaitable[None] | None:
        """Hard reset when on; power on when off."""

    @abstractmethod
    def _set_boot_pxe_once(self) -> Awaitable[None] | None:
        """Boot from the network on the next boot only."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook, no-op by default
        """Release what this object holds; shared per-address sessions stay pooled."""

    def _abandon(self) -> None:  # noqa: B027 - optional hook, no-op by default
        """A call timed out while its thread still runs: drop what that call holds (a
        session, a lock) so that the retry does not queue behind it. Must not block."""

    # -- the public, policed calls ------------------------------------------------------
    async def power_state(self) -> BMCPower:
        """The system's power state."""
        state: BMCPower = await self._call("power state", self._power_state)
        return state

    async def power_on(self) -> None:
        """Power on (returns once the BMC accepted; see ``wait_power``)."""
        await self._call("power on", self._power_on)

    async def power_off(self) -> None:
        """Hard power off (returns once the BMC accepted; see ``wait_power``)."""
        await self._call("power off", self._power_off)

    async def power_cycle(self) -> None:
        """Hard reset, or power on if off."""
        await self._call("power cycle", self._power_cycle)

    async def set_boot_pxe_once(self) -> None:
        """Network boot on the next boot only."""
        await self._call("set one-time PXE boot", self._set_boot_pxe_once)

    async def wait_power(
        self,
        state: BMCPower | str,
        timeout: float,  # noqa: ASYNC109 - the hwmgr contract: a deadline, not a cancel
        interval: float = 0.5,
    ) -> BMCPower:
        """Poll until the power state is ``state``; ``BMCError`` after ``timeout`` s.

        BMCs apply power changes some time after accepting them, so callers poll."""
        if state not in ("on", "off"):
            raise ValueError(f"state must be 'on' or 'off', not {state!r}")
        deadline = time.monotonic() + timeout
        delay = interval
        current: BMCPower = await self.power_state()
        while current != state:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BMCError(
                    f"{self.label}: power is still {current} after {timeout:g}s "
                    f"(waited for {state})"
                )
            await asyncio.sleep(min(left, delay * (0.8 + 0.4 * random.random())))
            delay = min(delay * 1.5, 5.0)
            current = await self.power_state()
        return current

    async def _call(self, what: str, raw: Callable[[], Any]) -> Any:
        glob, per_bmc = _LIMITS.for_address(f"{self.address}:{self.port}")
        last: BMCError | None = None
        for attempt in range(self.retry.attempts):
            if attempt:
                await asyncio.sleep(self.retry.delay(attempt - 1))
            try:
                async with per_bmc, glob:  # per-BMC first: a queue at one BMC holds no global slot
                    return await asyncio.wait_for(self._invoke(raw), self.retry.call_timeout)
            except BMCFatalError as exc:
                LOG.warning("%s: %s failed: %s", self.label, what, exc.message)
                raise BMCError(exc.message) from exc
            except (BMCConnectionError, TimeoutError) as exc:
                if isinstance(exc, TimeoutError):
                    self._abandon()
                last = (
                    exc
                    if isinstance(exc, BMCConnectionError)
                    else BMCConnectionError(
                        f"{self.label} did not answer within {self.retry.call_timeout:g}s"
                    )
                )
                LOG.info(
                    "%s: %s attempt %d/%d failed: %s",
                    self.label,
                    what,
                    attempt + 1,
                    self.retry.attempts,
                    last.message,
                )
            except BMCError as exc:
                raise BMCError(exc.message) from exc
        assert last is not None
        message = f"{last.message} ({what}; gave up after {self.retry.attempts} attempts)"
        LOG.warning("%s", message)
        raise BMCError(message) from last

    async def _invoke(self, raw: Callable[[], Any]) -> Any:
        if inspect.iscoroutinefunction(raw):
            return await raw()
        return await run_blocking(raw)
