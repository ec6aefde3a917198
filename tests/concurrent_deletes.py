"""Two deletes of one resource at once, for the API tests of each resource: one succeeds,
the other answers what the API answers for a missing resource (its 404), as OpenStack
answers a second delete; never two successes over a DELETE that matched nothing (found by
the random walk, whose waves send concurrent requests)."""

from __future__ import annotations

import asyncio
import warnings
from typing import Any

import httpx
from sqlalchemy import ColumnElement, select

from stockyard.db.base import Database
from tests.conftest import Cloud


async def twice_at_once(
    db: Database,
    client: httpx.AsyncClient,
    url: str,
    model: type,
    *where: ColumnElement[bool],
    headers: dict[str, str] | None = None,
) -> list[httpx.Response]:
    """DELETE ``url`` twice: both requests read the row (of ``model``, ``where``) while
    another transaction holds it, then race. The answers, sorted by status."""
    async with db.session() as s:
        await s.execute(select(model).where(*where).with_for_update())
        calls = [asyncio.create_task(client.delete(url, headers=headers)) for _ in range(2)]
        await asyncio.sleep(0.3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # SQLAlchemy's "expected to delete 1 row" too
        done = await asyncio.gather(*calls)
    return sorted(done, key=lambda r: r.status_code)


async def deleted_once_at(
    db: Database,
    client: httpx.AsyncClient,
    url: str,
    model: type,
    *where: ColumnElement[bool],
    headers: dict[str, str] | None = None,
    ok: int = 204,
) -> Any:
    """:func:`twice_at_once`: one answers ``ok``, the other 404 with the body a delete of
    the resource, now gone, answers. Returns that body."""
    first, second = await twice_at_once(db, client, url, model, *where, headers=headers)
    assert [first.status_code, second.status_code] == [ok, 404], (first.text, second.text)
    again = await client.delete(url, headers=headers)
    assert again.status_code == 404, again.text
    assert second.json() == again.json()
    return second.json()


async def deleted_once(
    cloud: Cloud,
    url: str,
    model: type,
    *where: ColumnElement[bool],
    headers: dict[str, str] | None = None,
    ok: int = 204,
) -> Any:
    """:func:`deleted_once_at` on ``cloud``'s API (``headers``: the demo user's)."""
    h = headers or cloud.demo
    return await deleted_once_at(cloud.state.db, cloud.client, url, model, *where, headers=h, ok=ok)
