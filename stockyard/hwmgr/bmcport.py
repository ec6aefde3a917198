"""The seam between hwmgr and the BMC layer (``stockyard.hwmgr.bmc``).

hwmgr codes against the small ``BMCLike`` protocol; the default factory builds the real
Redfish/IPMI client with ``make_bmc``. Tests may pass another factory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import SecretStr

if TYPE_CHECKING:
    from stockyard.hwmgr.crypto import SecretBox
    from stockyard.hwmgr.db.models import Node


class BMCLike(Protocol):
    """What hwmgr needs from a BMC; every call may raise the BMC layer's ``BMCError``."""

    async def power_state(self) -> str: ...
    async def power_on(self) -> None: ...
    async def power_off(self) -> None: ...
    async def power_cycle(self) -> None: ...
    async def set_boot_pxe_once(self) -> None: ...
    async def wait_power(self, state: str, timeout: float) -> Any: ...  # noqa: ASYNC109


@dataclass(frozen=True)
class BMCTarget:
    """Where a node's BMC is and how to log in; the password stays a ``SecretStr``."""

    driver: str
    address: str
    port: int
    username: str
    password: SecretStr = field(repr=False)
    system_id: str | None = None


def target_of(node: Node, box: SecretBox) -> BMCTarget:
    """The node's BMC as recorded, its password decrypted (still a ``SecretStr``)."""
    return BMCTarget(
        driver=node.bmc_driver,
        address=node.bmc_address,
        port=node.bmc_port,
        username=node.bmc_username,
        password=box.decrypt(node.bmc_password_encrypted),
        system_id=node.bmc_system_id,
    )


BMCFactory = Callable[[BMCTarget], BMCLike]


def default_bmc_factory(target: BMCTarget) -> BMCLike:
    """The real BMC client for ``target`` (Redfish via sushy, IPMI via pyghmi)."""
    return _make(target, None, None)


def bmc_factory_with(call_timeout: float, attempts: int) -> BMCFactory:
    """The real BMC clients, each call bounded by ``call_timeout`` s and tried ``attempts``
    times (hwmgr's ``bmc_call_timeout_seconds`` / ``bmc_attempts``)."""

    def factory(target: BMCTarget) -> BMCLike:
        return _make(target, call_timeout, attempts)

    return factory


def _make(target: BMCTarget, call_timeout: float | None, attempts: int | None) -> BMCLike:
    from stockyard.hwmgr.bmc import BMCCredentials, RetryPolicy, make_bmc

    if target.driver not in ("redfish", "ipmi"):
        raise ValueError(f"unknown BMC driver {target.driver!r}")
    creds = BMCCredentials(username=target.username, password=target.password)
    driver: Literal["redfish", "ipmi"] = "redfish" if target.driver == "redfish" else "ipmi"
    retry = None
    if call_timeout is not None or attempts is not None:
        defaults = RetryPolicy()
        retry = RetryPolicy(
            call_timeout=call_timeout or defaults.call_timeout,
            attempts=attempts or defaults.attempts,
        )
    return make_bmc(driver, target.address, target.port, creds, target.system_id, retry)


async def close_bmc(bmc: BMCLike) -> None:
    """Release a client's session if it keeps one (``close``/``aclose`` are optional)."""
    for name in ("aclose", "close"):
        closer = getattr(bmc, name, None)
        if closer is not None:
            result = closer()
            if hasattr(result, "__await__"):
                await result
            return


def error_text(exc: BaseException) -> str:
    """A readable message for a BMC failure (``BMCError(message)`` keeps its message)."""
    message = getattr(exc, "message", None) or str(exc)
    return str(message) or type(exc).__name__
