"""Neutron's error body for every failure under ``/network``.

The app's handlers pick the body shape by URL prefix and know nothing of Neutron, so
this route class turns errors into ``{"NeutronError": {...}}`` before they leave the
route: service errors, the shared dependencies' ``APIError`` (401/403) and FastAPI's
validation errors alike.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from stockyard.api.errors import NEUTRON_TYPES, APIError, validation_message
from stockyard.network.errors import NeutronError


def neutron_response(
    status: int, type_: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {"NeutronError": {"type": type_, "message": message, "detail": ""}}
    return JSONResponse(body, status_code=status, headers=headers)


class NeutronRoute(APIRoute):
    """An APIRoute whose errors are rendered as Neutron renders them."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            try:
                return await handler(request)
            except NeutronError as exc:
                return neutron_response(exc.status, exc.type, exc.message)
            except APIError as exc:
                kind = NEUTRON_TYPES.get(exc.status, "NeutronError")
                return neutron_response(exc.status, kind, exc.message, exc.headers)
            except RequestValidationError as exc:
                return neutron_response(400, "HTTPBadRequest", validation_message(exc))

        return run
