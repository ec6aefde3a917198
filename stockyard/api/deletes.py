"""Deleting a row the request read: of two concurrent deletes, the second answers 404."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.api.errors import APIError
from stockyard.db.base import Base, delete_once


async def delete_or_404(session: AsyncSession, row: Base, message: str) -> None:
    """Delete ``row``, read earlier in this request; when a concurrent request deleted it
    since, raise the API's 404 for a missing resource (``message``: the route's own "not
    found" text), as OpenStack answers a second delete. The route commits only after
    this, so the loser's earlier writes roll back and its side effects do not run."""
    if not await delete_once(session, row):
        raise APIError(404, message)
