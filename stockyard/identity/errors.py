"""Identity errors that carry the HTTP status the API answers with.

The identity services know no HTTP; the API's identity routes turn these into
``{"error": ...}`` bodies.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.db.base import Base, delete_once


class IdentityError(Exception):
    """A failure the caller should see, with its status code."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(IdentityError):
    status = 400


class Unauthorized(IdentityError):
    status = 401


class Forbidden(IdentityError):
    status = 403


class NotFound(IdentityError):
    status = 404


class Conflict(IdentityError):
    status = 409


async def delete_or_not_found(session: AsyncSession, row: Base, message: str) -> None:
    """Delete ``row``, read before: a concurrent delete that committed since makes this
    one ``NotFound(message)`` (Keystone's answer to a second delete, with the "could not
    find" text the caller gives for a missing row), not a DELETE that matched nothing. The
    route commits only after this: what the loser wrote before rolls back."""
    if not await delete_once(session, row):
        raise NotFound(message)
