"""The route class of every identity router: turns ``IdentityError`` into ``APIError``.

The identity services raise errors that know their status but no HTTP; this is the one
place that maps them, so routes need no try/except.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute

from stockyard.api.errors import APIError
from stockyard.identity.errors import IdentityError


class IdentityRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def translated(request: Request) -> Response:
            try:
                return await handler(request)
            except IdentityError as exc:
                raise APIError(exc.status, exc.message) from None

        return translated


def identity_router() -> APIRouter:
    """A router for ``/identity/v3`` paths whose routes translate identity errors."""
    return APIRouter(route_class=IdentityRoute)
