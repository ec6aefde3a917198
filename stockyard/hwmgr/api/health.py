"""hwmgr's ``GET /healthz`` (liveness) and ``GET /readyz`` on its own API port.

Both need no token (a kubelet probe holds none) and say nothing about nodes: ``/readyz``
answers 200 only while hwmgr's database answers ``SELECT 1`` and the libraries of its BMC
drivers (sushy for Redfish, pyghmi for IPMI) import, 503 with the failing check otherwise.
"""

from __future__ import annotations

import importlib
import logging

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import text

from stockyard.hwmgr.api.state import HwmgrState

log = logging.getLogger(__name__)

# BMC driver -> the module its client needs (see stockyard.hwmgr.bmc).
BMC_DRIVER_MODULES = {"redfish": "stockyard.hwmgr.bmc.redfish", "ipmi": "stockyard.hwmgr.bmc.ipmi"}


def bmc_drivers_loaded() -> bool:
    """Every BMC driver's client library imports (a broken image fails readiness, not a
    deploy hours later)."""
    for driver, module in BMC_DRIVER_MODULES.items():
        try:
            importlib.import_module(module)
        except Exception as exc:
            log.warning("BMC driver %s cannot load %s: %s", driver, module, exc)
            return False
    return True


async def _db_reachable(state: HwmgrState) -> bool:
    try:
        async with state.db.session() as session:
            await session.execute(text("SELECT 1"))
    except Exception:
        return False
    return True


def add_hwmgr_health(app: FastAPI, state: HwmgrState) -> None:
    """Mount ``/healthz`` and ``/readyz`` (database + BMC drivers) on hwmgr's app."""
    drivers = bmc_drivers_loaded()  # imports once; a later import cannot change it

    # The same bodies as the other roles' (stockyard.cli.health), which hwmgr, a package
    # below the CLI, does not import.
    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        checks = {"database": await _db_reachable(state), "bmc_drivers": drivers}
        ok = all(checks.values())
        return JSONResponse(
            {"status": "ok" if ok else "unavailable", "checks": checks},
            status_code=200 if ok else 503,
        )
