"""Errors of the hwmgr API, always ``{"error": {"code", "message"}}``."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    502: "bmc_error",
}


class HwmgrError(Exception):
    """An error the client sees: HTTP status, a stable code and a readable message."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or _CODES.get(status, "error")
        self.message = message


def body(status: int, message: str, code: str | None = None) -> dict[str, dict[str, str]]:
    return {"error": {"code": code or _CODES.get(status, "error"), "message": message}}


def _field(loc: tuple[int | str, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(HwmgrError)
    async def _hwmgr(_: Request, exc: HwmgrError) -> JSONResponse:
        return JSONResponse(body(exc.status, exc.message, exc.code), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for err in exc.errors():
            # pydantic puts the offending input in "input": never echo it (passwords).
            problems.append(f"{_field(tuple(err.get('loc', ())))}: {err.get('msg', 'invalid')}")
        return JSONResponse(
            body(400, "; ".join(problems) or "invalid request", "invalid_input"), status_code=400
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(body(exc.status_code, str(exc.detail)), status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("hwmgr API error on %s %s", request.method, request.url.path)
        return JSONResponse(body(500, "internal error", "internal_error"), status_code=500)
