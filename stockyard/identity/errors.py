"""Identity errors that carry the HTTP status the API answers with.

The identity services know no HTTP; the API's identity routes turn these into
``{"error": ...}`` bodies.
"""

from __future__ import annotations


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
