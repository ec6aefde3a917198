"""OpenStack-style error bodies.

Each service has its own shape: compute ``{"itemNotFound": {"message", "code"}}``,
identity ``{"error": {"code", "title", "message"}}``, image ``{"code", "title", "message"}``
(Glance's), network ``{"NeutronError": {"type", "message", "detail"}}``. The shape is chosen
from the URL prefix, so routes only raise ``APIError``.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)

_COMPUTE_NAMES = {
    400: "badRequest",
    401: "unauthorized",
    403: "forbidden",
    404: "itemNotFound",
    405: "badMethod",
    406: "notAcceptable",
    409: "conflictingRequest",
    413: "overLimit",
    415: "badMediaType",
    429: "overLimit",
    501: "notImplemented",
    503: "serviceUnavailable",
}
# Neutron names an error without a type of its own by its webob exception class.
NEUTRON_TYPES = {
    400: "HTTPBadRequest",
    401: "HTTPUnauthorized",
    403: "HTTPForbidden",
    404: "HTTPNotFound",
    405: "HTTPMethodNotAllowed",
    406: "HTTPNotAcceptable",
    409: "HTTPConflict",
    413: "HTTPRequestEntityTooLarge",
    415: "HTTPUnsupportedMediaType",
    500: "HTTPInternalServerError",
    501: "HTTPNotImplemented",
    503: "HTTPServiceUnavailable",
}
_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    409: "Conflict",
    413: "Request Entity Too Large",
    415: "Unsupported Media Type",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
}


class APIError(Exception):
    """An error the client should see, with the HTTP status and a readable message."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def error_body(path: str, status: int, message: str) -> dict[str, Any]:
    """The body for ``status`` in the dialect of the service that owns ``path``."""
    title = _TITLES.get(status, "Error")
    if path.startswith("/identity"):
        return {"error": {"code": status, "title": title, "message": message}}
    if path.startswith("/image"):
        return {"code": status, "title": title, "message": message}
    if path.startswith("/network"):
        # Routes under /network render their own errors (NeutronRoute); this is for what
        # never reaches one: an unknown path (/v2.0/routers), a method not served, a crash.
        kind = NEUTRON_TYPES.get(status, "NeutronError")
        return {"NeutronError": {"type": kind, "message": message, "detail": ""}}
    name = _COMPUTE_NAMES.get(status, "computeFault")
    return {name: {"code": status, "message": message}}


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def validation_message(exc: RequestValidationError) -> str:
    """'Invalid input for field/attribute server.flavorRef: Field required', naming fields."""
    msgs = []
    for err in exc.errors()[:5]:
        loc = tuple(err.get("loc", ()))
        field = _field_name(loc)
        msg = str(err.get("msg", "invalid"))
        if err.get("type") == "json_invalid":
            return "Malformed request body: the body is not valid JSON."
        msgs.append(
            f"Invalid input for field/attribute {field}. Value: {err.get('input')!r}. {msg}"
        )
    return "; ".join(msgs) or "Invalid input"


def install_error_handlers(app: FastAPI) -> None:
    """Map every error, including framework ones, to the service's body shape."""

    @app.exception_handler(APIError)
    async def _api_error(request: Request, exc: APIError) -> JSONResponse:
        body = error_body(request.url.path, exc.status, exc.message)
        return JSONResponse(body, status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        body = error_body(request.url.path, 400, validation_message(exc))
        return JSONResponse(body, status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = str(exc.detail) if exc.detail else _TITLES.get(exc.status_code, "Error")
        if exc.status_code == 404 and message == "Not Found":
            message = f"The resource could not be found: {request.url.path}"
        body = error_body(request.url.path, exc.status_code, message)
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        message = "Unexpected API Error. Please report this at the operator's bug tracker."
        return JSONResponse(error_body(request.url.path, 500, message), status_code=500)
