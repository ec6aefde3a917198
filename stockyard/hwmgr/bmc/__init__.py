"""The BMC layer: one ``BMC`` contract, Redfish (sushy) and IPMI (pyghmi) drivers.

``make_bmc(driver, address, port, credentials, system_id)`` builds a client; every public
call retries connection errors with backoff, never retries fatal ones and raises
``BMCError`` with the BMC's own message.
"""

from __future__ import annotations

from typing import Literal

from stockyard.hwmgr.bmc.base import (
    BMC,
    BMCConnectionError,
    BMCCredentials,
    BMCError,
    BMCFatalError,
    BMCPower,
    RetryPolicy,
    concurrency_limits,
    set_concurrency_limits,
)

__all__ = [
    "BMC",
    "BMCConnectionError",
    "BMCCredentials",
    "BMCError",
    "BMCFatalError",
    "BMCPower",
    "RetryPolicy",
    "concurrency_limits",
    "make_bmc",
    "set_concurrency_limits",
]


def make_bmc(
    driver: Literal["redfish", "ipmi"],
    address: str,
    port: int,
    credentials: BMCCredentials,
    system_id: str | None = None,
    retry: RetryPolicy | None = None,
) -> BMC:
    """A BMC client for one node; ``system_id`` picks the Redfish system (id, UUID or
    path; ``None``: the only one). Raises ``ValueError`` for an unknown driver."""
    if driver == "redfish":
        from stockyard.hwmgr.bmc.redfish import RedfishBMC

        return RedfishBMC(address, port, credentials, system_id, retry)
    if driver == "ipmi":
        from stockyard.hwmgr.bmc.ipmi import IpmiBMC

        return IpmiBMC(address, port, credentials, system_id, retry)
    raise ValueError(f"unknown BMC driver {driver!r} (expected 'redfish' or 'ipmi')")
