"""hwmgr's /healthz and /readyz: no token needed, readiness follows its database."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from stockyard.db.base import Database
from stockyard.hwmgr.api import health
from tests.hwmgr.conftest import Lab


async def test_healthz_and_readyz_answer_without_a_token(lab: Lab) -> None:
    async with httpx.AsyncClient(base_url=lab.service.url) as anonymous:
        live = await anonymous.get("/healthz")
        ready = await anonymous.get("/readyz")
        nodes = await anonymous.get("/v1/nodes")
    assert live.status_code == 200
    assert live.json() == {"status": "ok"}
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "checks": {"database": True, "bmc_drivers": True}}
    assert nodes.status_code == 401  # the probes open nothing else


async def test_readyz_is_503_while_the_database_does_not_answer(lab: Lab, tmp_path: Path) -> None:
    assert lab.service.state is not None
    working = lab.service.state.db
    # A database file in a directory that does not exist: every connection fails.
    lab.service.state.db = Database(f"sqlite+aiosqlite:///{tmp_path}/gone/hwmgr.db")
    try:
        async with httpx.AsyncClient(base_url=lab.service.url) as anonymous:
            ready = await anonymous.get("/readyz")
            live = await anonymous.get("/healthz")
    finally:
        await lab.service.state.db.dispose()
        lab.service.state.db = working
    assert ready.status_code == 503
    assert ready.json()["checks"] == {"database": False, "bmc_drivers": True}
    assert live.status_code == 200


def test_a_bmc_driver_that_cannot_load_fails_readiness(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(health.BMC_DRIVER_MODULES, "ipmi", "stockyard_no_such_bmc_library")
    assert health.bmc_drivers_loaded() is False
