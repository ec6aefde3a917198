"""Quota limit rows (one per owner and resource, with ``hard_limit``), as every API's
quota overrides and quota classes keep them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession


async def store_limits(
    session: AsyncSession, model: type[Any], owner: Mapping[str, str], limits: Mapping[str, int]
) -> None:
    """Set ``limits`` (resource -> hard limit) in ``model``'s rows of ``owner`` (the
    columns that key a row with ``resource``): updated where a row is, added where not."""
    for resource, limit in limits.items():
        row = await session.scalar(select(model).filter_by(**owner, resource=resource))
        if row is None:
            session.add(model(**owner, resource=resource, hard_limit=limit))
        else:
            row.hard_limit = limit
