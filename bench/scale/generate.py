"""Fill a database with the simulated cloud of :mod:`bench.scale.layout`.

Run alone: ``python -m bench.scale.generate [--scale 0.1] [--url URL]`` (default: a fresh
``stockyard_scale`` database on 127.0.0.1:5432, dropped first if it exists).

The schema is the real one (Alembic ``upgrade head``), then the cloud is seeded as
``stockyard db upgrade`` seeds it (users, flavors, the default image), then the layout's
rows are written: PostgreSQL COPY through asyncpg, SQLAlchemy Core executemany elsewhere.
Host usage counters are the sums of the allocations written, as claims would leave them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Table, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from stockyard.db import migrate
from stockyard.db.base import Base, Database, make_engine, utcnow
from stockyard.db.models import Flavor, Image, Project, User

from .layout import NEW_FLAVORS, Layout, Scale, build

PG_ROOT = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/stockyard_scale"
ADMIN_PASSWORD = "scale-admin"
CHUNK = 5000


@dataclass
class Generated:
    """What the bench needs to know about the cloud it made."""

    url: str
    layout: Layout
    admin_project: str
    projects: list[str]
    seconds: float


async def recreate_pg(url: str) -> None:
    """Drop and create the PostgreSQL database of ``url`` (kicking out its sessions)."""
    name = make_url(url).database
    engine = make_engine(PG_ROOT).execution_options(isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = :n AND pid <> pg_backend_pid()"
                ),
                {"n": name},
            )
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            await conn.execute(text(f"CREATE DATABASE \"{name}\" ENCODING 'UTF8'"))
    finally:
        await engine.dispose()


async def drop_pg(url: str) -> None:
    """Drop the PostgreSQL database of ``url``."""
    name = make_url(url).database
    engine = make_engine(PG_ROOT).execution_options(isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = :n AND pid <> pg_backend_pid()"
                ),
                {"n": name},
            )
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    finally:
        await engine.dispose()


async def generate(url: str, scale: Scale, data_dir: Path) -> Generated:
    """Schema, seed and the simulated cloud in the (empty) database at ``url``."""
    from stockyard.cli.seed import seed_cloud
    from stockyard.settings import Settings

    started = time.perf_counter()
    await migrate.upgrade(url)
    db = Database(url)
    try:
        settings = Settings(
            database_url=url, data_dir=data_dir, admin_password=ADMIN_PASSWORD,
            demo_password=ADMIN_PASSWORD,
        )  # fmt: skip
        async with db.session() as s:
            from stockyard.db.models import Region

            s.add_all(Region(id=r["id"], cidr=r["cidr"]) for r in _regions())
        await seed_cloud(settings, db)
        projects, users, image = await _identity(db, scale.projects)
        layout = build(scale, projects, users, utcnow())
        for row in layout.instances:
            row["image_ref"] = image
        layout.regions = []  # written above, before the seed (which reads them)
        async with db.session() as s:
            s.add_all(
                Flavor(flavorid=fid, name=name, vcpus=v, ram=ram, disk=disk, extra_specs=extra)
                for fid, name, v, ram, disk, extra in NEW_FLAVORS
            )
        async with db.engine.begin() as conn:
            for table, rows in layout.tables():
                await write_rows(conn, Base.metadata.tables[table], rows)
            await _reset_sequences(conn, [t for t, _ in layout.tables()])
        if db.url.startswith("postgresql"):
            # Fresh statistics, as a cloud that grew to this size would have.
            auto = db.engine.execution_options(isolation_level="AUTOCOMMIT")
            async with auto.connect() as conn:
                await conn.execute(text("ANALYZE"))
    finally:
        await db.dispose()
    return Generated(url, layout, projects[0], projects, time.perf_counter() - started)


def _regions() -> list[dict[str, Any]]:
    from .layout import REGIONS

    return [{"id": r, "cidr": f"10.{100 + i}.0.0/16"} for i, r in enumerate(REGIONS)]


async def _identity(db: Database, count: int) -> tuple[list[str], dict[str, str], str]:
    """Project ids (admin's and demo's first, then made-up ones), the user of each real
    project, and the default image's id."""
    async with db.session() as s:
        rows = {p.name: p.id for p in (await s.scalars(select(Project))).all()}
        user_ids = {u.name: u.id for u in (await s.scalars(select(User))).all()}
        image = await s.scalar(select(Image.id).order_by(Image.created_at).limit(1))
    projects = [rows["admin"], rows["demo"]]
    projects += [f"{i:032x}" for i in range(1, max(0, count - 2) + 1)]
    users = {rows["admin"]: user_ids["admin"], rows["demo"]: user_ids["demo"]}
    return projects, users, str(image or "")


def _record(table: Table, row: dict[str, Any], columns: list[str]) -> list[Any]:
    """The row with every column: missing ones take the column's Python default."""
    out: list[Any] = []
    for name in columns:
        if name in row:
            out.append(row[name])
            continue
        default: Any = table.c[name].default
        if default is None:
            out.append(None)
        elif default.is_callable:
            out.append(default.arg(None))
        else:
            out.append(default.arg)
    return out


async def write_rows(conn: AsyncConnection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Bulk insert ``rows`` into ``table`` (COPY on PostgreSQL, executemany elsewhere)."""
    if not rows:
        return
    columns = [c.name for c in table.columns]
    if conn.dialect.name != "postgresql":
        for i in range(0, len(rows), CHUNK):
            chunk = rows[i : i + CHUNK]
            await conn.execute(
                insert(table),
                [dict(zip(columns, _record(table, r, columns), strict=True)) for r in chunk],
            )
        return
    from sqlalchemy import JSON

    json_cols = {i for i, c in enumerate(table.columns) if isinstance(c.type, JSON)}
    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection
    for i in range(0, len(rows), CHUNK):
        records = []
        for r in rows[i : i + CHUNK]:
            rec = _record(table, r, columns)
            for j in json_cols:
                if rec[j] is not None:
                    rec[j] = json.dumps(rec[j])
            records.append(tuple(rec))
        await driver.copy_records_to_table(table.name, records=records, columns=columns)


async def _reset_sequences(conn: AsyncConnection, tables: list[str]) -> None:
    """Rows were written with explicit ids: move PostgreSQL's sequences past them."""
    if conn.dialect.name != "postgresql":
        return
    for name in tables:
        if "id" not in Base.metadata.tables[name].c or name == "regions":
            continue
        await conn.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{name}', 'id'),"
                f" GREATEST((SELECT max(id) FROM {name}), 1))"
            )
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of full scale")
    parser.add_argument("--url", default=DEFAULT_URL, help="a PostgreSQL database to recreate")
    args = parser.parse_args()
    scale = Scale().scaled(args.scale) if args.scale != 1.0 else Scale()

    async def run() -> Generated:
        await recreate_pg(args.url)
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            return await generate(args.url, scale, Path(tmp))

    made = asyncio.run(run())
    counts = ", ".join(f"{t} {len(r)}" for t, r in made.layout.tables())
    print(f"generated in {made.seconds:.1f} s: {counts}", file=sys.stderr)


if __name__ == "__main__":
    main()
