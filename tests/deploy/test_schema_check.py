"""Roles refuse a database whose schema they don't know; ``db upgrade`` may run twice at once.

The deployment runs ``stockyard db upgrade`` as a Job before the role Deployments (Argo CD
sync waves, see deploy/): a role started on an old schema (the Job has not run yet) or on
a newer one (an old image left running after an upgrade) must stop with a clear line
instead of failing later on a missing column.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text

from stockyard.db import testing as dbt
from stockyard.db.base import make_engine
from stockyard.db.migrate import (
    SchemaMismatch,
    alembic_config,
    check_schema,
    code_head,
    upgrade,
)

STOCKYARD = str(Path(sys.executable).parent / "stockyard")


def _env(url: str, tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOCKYARD_")}
    env.update(STOCKYARD_DATABASE_URL=url, STOCKYARD_DATA_DIR=str(tmp / "data"))
    return env


def _run(tmp: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [STOCKYARD, *args], env=_env(url, tmp), cwd=tmp, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip


def _sqlite(tmp: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp / 'cloud.db'}"


async def _set_version(url: str, revision: str) -> None:
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
    finally:
        await engine.dispose()


@pytest.mark.parametrize("role", ["scheduler", "conductor", "volume", "api"])
def test_role_refuses_a_database_without_schema(tmp_path: Path, role: str) -> None:
    out = _run(tmp_path, _sqlite(tmp_path), role)
    assert out.returncode == 1, out.stdout + out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr  # one line, no traceback
    assert "no Stockyard schema" in lines[0] and "stockyard db upgrade" in lines[0]


def test_role_refuses_an_older_schema_and_names_both_revisions(tmp_path: Path) -> None:
    url = _sqlite(tmp_path)
    head = code_head()
    older = str(ScriptDirectory.from_config(alembic_config(url)).get_revision(head).down_revision)
    assert _run(tmp_path, url, "db", "upgrade", older, "--schema-only").returncode == 0
    out = _run(tmp_path, url, "conductor")
    assert out.returncode == 1
    assert f"at revision {older}, older than this Stockyard needs ({head})" in out.stderr
    assert "run `stockyard db upgrade` first" in out.stderr


def test_role_refuses_a_newer_schema(tmp_path: Path) -> None:
    url = _sqlite(tmp_path)
    assert _run(tmp_path, url, "db", "upgrade", "--schema-only").returncode == 0
    asyncio.run(_set_version(url, "9999_from_the_future"))
    out = _run(tmp_path, url, "scheduler")
    assert out.returncode == 1
    assert "at revision 9999_from_the_future, newer than this Stockyard knows" in out.stderr
    assert f"its newest is {code_head()}" in out.stderr


async def test_check_passes_at_head_and_upgrade_is_idempotent(tmp_path: Path) -> None:
    url = _sqlite(tmp_path)
    with pytest.raises(SchemaMismatch):
        await check_schema(url)
    await upgrade(url)
    await check_schema(url)
    await upgrade(url)  # a re-run of the Job: nothing to do, still at head
    await check_schema(url)


@pytest.mark.parametrize("backend", ["postgresql", "mariadb"])
async def test_two_upgrades_at_once_both_succeed(backend: str) -> None:
    """Two regions' upgrade Jobs syncing at the same time against the one database."""
    if not dbt.server_reachable(backend):
        if os.environ.get("CI") == "true":
            pytest.fail(f"{backend} unreachable")
        pytest.skip(f"{backend} unreachable")
    url = await dbt.create_database(backend, prefix="sydeploy")
    try:
        await asyncio.gather(upgrade(url), upgrade(url))
        await check_schema(url)
    finally:
        await dbt.drop_database(url)
