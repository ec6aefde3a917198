"""What the models rely on, checked on every backend: datetimes, JSON, unique, rowcount."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import (
    JSON,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from stockyard.db.base import NAMING, Database, UTCDateTime

pytestmark = pytest.mark.backend("sqlite", "postgresql", "mariadb")

meta = MetaData(naming_convention=NAMING)
things = Table(
    "things",
    meta,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False),
    Column("at", UTCDateTime, nullable=True),
    Column("doc", JSON, nullable=True),
    Column("used", Integer, nullable=False, default=0),
    UniqueConstraint("name"),
)


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url)
    async with database.engine.begin() as conn:
        await conn.run_sync(meta.create_all)
    try:
        yield database
    finally:
        await database.dispose()


async def test_naive_utc_datetime_keeps_microseconds(db: Database) -> None:
    naive = datetime(2026, 11, 25, 21, 40, 1, 123456)
    aware = datetime(2026, 11, 25, 23, 40, 1, 654321, tzinfo=timezone(timedelta(hours=2)))
    async with db.session() as s:
        await s.execute(insert(things), [{"name": "a", "at": naive}, {"name": "b", "at": aware}])
    async with db.session() as s:
        rows = dict((await s.execute(select(things.c.name, things.c.at))).all())
    assert rows["a"] == naive
    # An aware value is stored as the same instant in naive UTC.
    assert rows["b"] == aware.astimezone(UTC).replace(tzinfo=None)
    assert rows["b"].tzinfo is None


async def test_json_round_trip(db: Database) -> None:
    doc = {"nested": {"list": [1, 2.5, "três", None, True]}, "empty": {}, "unicode": "日本"}
    async with db.session() as s:
        await s.execute(insert(things).values(name="j", doc=doc))
    async with db.session() as s:
        got = (await s.execute(select(things.c.doc))).scalar_one()
    assert got == doc


async def test_unique_constraint_rejects_duplicates(db: Database) -> None:
    async with db.session() as s:
        await s.execute(insert(things).values(name="dup"))
    with pytest.raises(IntegrityError):
        async with db.session() as s:
            await s.execute(insert(things).values(name="dup"))
    async with db.session() as s:
        assert len((await s.execute(select(things))).all()) == 1


async def test_conditional_update_rowcount_counts_matched_rows(db: Database) -> None:
    """A WHERE that matches but changes nothing still counts (MariaDB: FOUND_ROWS)."""
    async with db.session() as s:
        await s.execute(insert(things).values(name="h", used=0))
    async with db.session() as s:
        res = await s.execute(update(things).where(things.c.used <= 1).values(used=1))
        assert res.rowcount == 1  # type: ignore[attr-defined]
    async with db.session() as s:
        # Same value again: matched 1, changed 0. Claims rely on "matched".
        res = await s.execute(update(things).where(things.c.name == "h").values(used=1))
        assert res.rowcount == 1  # type: ignore[attr-defined]
    async with db.session() as s:
        res = await s.execute(update(things).where(things.c.used + 1 <= 1).values(used=2))
        assert res.rowcount == 0  # type: ignore[attr-defined]


async def test_open_transaction_sees_rows_committed_meanwhile(db: Database) -> None:
    """READ COMMITTED everywhere: a retry loop in one transaction sees the race winner."""
    if db.engine.dialect.name == "sqlite":
        pytest.skip("SQLite serializes writers; there is no concurrent commit to see")
    async with db.session() as s:
        before = (await s.execute(select(things.c.name))).scalars().all()
        async with db.session() as other:
            await other.execute(insert(things).values(name="winner"))
        after = (await s.execute(select(things.c.name))).scalars().all()
    assert before == [] and after == ["winner"]
