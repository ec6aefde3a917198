"""A database of the test's backend with the schema, for the placement tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from stockyard.db.base import Database


@pytest.fixture
async def burst_db(db_url: str) -> AsyncIterator[Database]:
    db = Database(db_url)
    await db.create_all()
    yield db
    await db.dispose()
