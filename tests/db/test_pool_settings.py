"""The pool settings reach every process's engine; a bad value names its field."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from stockyard.db.base import Database
from stockyard.hwmgr.settings import HwmgrSettings
from stockyard.settings import Settings


async def test_pool_settings_size_the_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STOCKYARD_DATABASE_POOL_SIZE", "3")
    monkeypatch.setenv("STOCKYARD_DATABASE_MAX_OVERFLOW", "2")
    monkeypatch.setenv("STOCKYARD_HWMGR_DATABASE_POOL_SIZE", "4")
    for settings, size, overflow in ((Settings(), 3, 2), (HwmgrSettings(), 4, 10)):
        # Creating the engine opens no connection: no server is needed here.
        db = Database("postgresql+asyncpg://u@127.0.0.1:1/x", **settings.database_engine_options())
        try:
            pool = db.engine.sync_engine.pool
            assert pool.size() == size  # type: ignore[attr-defined]
            assert pool._max_overflow == overflow  # type: ignore[attr-defined]
        finally:
            await db.dispose()


def test_a_pool_of_none_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STOCKYARD_DATABASE_POOL_SIZE", "0")
    with pytest.raises(ValidationError, match="database_pool_size"):
        Settings()
