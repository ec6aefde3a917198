"""The dashboard's ASGI app: server-rendered pages over the public APIs.

``create_dashboard(identity_url)`` builds it; ``stockyard up`` mounts it at
``/dashboard`` next to the API, ``stockyard dashboard`` serves it alone. Everything it
shows comes from the APIs in the catalog of the user's token (see
:mod:`stockyard.dashboard.client`); its only state is the in-memory session store.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from stockyard.dashboard import (
    views_auth,
    views_groups,
    views_operator,
    views_servers,
    views_stock,
)
from stockyard.dashboard.client import TIMEOUT, APIFailure, Identity, Unauthenticated
from stockyard.dashboard.sessions import COOKIE, SessionStore
from stockyard.dashboard.web import (
    BadRequest,
    Dashboard,
    LoginRequired,
    Page,
    dashboard_of,
    make_templates,
    redirect,
)

log = logging.getLogger("stockyard.dashboard")
STATIC = Path(__file__).parent / "static"

# Only our own files: no inline script or style, nothing from another origin. htmx's
# indicator styles are switched off in base.html (they would be an inline <style>).
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)


def create_dashboard(
    identity_url: str,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    secure_cookies: bool = False,
    sessions: SessionStore | None = None,
) -> FastAPI:
    """The dashboard app, a client of the Identity v3 API at ``identity_url``.

    ``transport`` (tests, or an in-process API) replaces the network; ``secure_cookies``
    marks the session cookie ``Secure`` (set it when the dashboard is served over HTTPS).
    """
    http = httpx.AsyncClient(transport=transport, timeout=TIMEOUT)
    dash = Dashboard(
        http=http,
        identity=Identity(http, identity_url),
        sessions=sessions or SessionStore(),
        templates=make_templates(),
        secure_cookies=secure_cookies,
    )
    app = FastAPI(title="Stockyard dashboard", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.dashboard = dash
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(views_auth.router)
    app.include_router(views_servers.router)
    app.include_router(views_groups.router)
    app.include_router(views_stock.router)
    app.include_router(views_operator.router)
    _handlers(app)

    @app.middleware("http")
    async def headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if not request.url.path.endswith((".js", ".css")):
            # Pages show a user's servers: never from a shared or back-button cache.
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    return app


def _handlers(app: FastAPI) -> None:
    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        dash = dashboard_of(request)
        # Keep an anonymous session the browser already has (and its pending message).
        session = dash.sessions.get(request.cookies.get(COOKIE))
        if session is None or session.token is not None:
            session = dash.sessions.new()
        if exc.flash:
            session.flash = exc.flash
        return redirect(request, "/login", session, dash)

    @app.exception_handler(Unauthenticated)
    async def token_dead(request: Request, exc: Unauthenticated) -> Response:
        # The API refused the token (expired, revoked): this session is over.
        dash = dashboard_of(request)
        if sid := request.cookies.get(COOKIE):
            dash.sessions.drop(sid)
        session = dash.sessions.new()
        session.flash = "Your session has ended (the token expired or was revoked)."
        return redirect(request, "/login", session, dash)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # Unknown pages, wrong methods, bad query values: a page, not FastAPI's JSON.
        message = "There is no such page." if exc.status_code == 404 else str(exc.detail)
        return _error_page(request, exc.status_code, message)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        return _error_page(request, 400, "The address has a value the dashboard cannot read.")

    @app.exception_handler(BadRequest)
    async def bad_request(request: Request, exc: BadRequest) -> Response:
        return _error_page(request, exc.status, exc.message)

    @app.exception_handler(APIFailure)
    async def api_failure(request: Request, exc: APIFailure) -> Response:
        return _error_page(request, exc.status, exc.message)

    @app.exception_handler(httpx.HTTPError)
    async def api_unreachable(request: Request, exc: httpx.HTTPError) -> Response:
        log.warning("dashboard: API unreachable: %s", exc)
        return _error_page(request, 502, "The cloud's API did not answer; try again shortly.")

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("dashboard: %s %s", request.method, request.url.path)
        return _error_page(request, 500, "Something went wrong in the dashboard; it was logged.")


def _error_page(request: Request, status: int, message: str) -> Response:
    dash = dashboard_of(request)
    session = dash.sessions.get(request.cookies.get(COOKIE)) or dash.sessions.new()
    try:
        return Page(request, dash, session).render("error.html", status, message=message)
    except Exception:  # a broken template must not hide the original error
        log.exception("dashboard: rendering the error page")
        return HTMLResponse("<h1>Error</h1>", status_code=status)


def standalone_app(identity_url: str, *, secure_cookies: bool = False) -> FastAPI:
    """The dashboard for ``stockyard dashboard``: at ``/dashboard`` as under ``stockyard
    up`` (same links either way), ``/`` redirecting there, and ``/healthz``."""
    dashboard = create_dashboard(identity_url, secure_cookies=secure_cookies)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await dashboard.state.dashboard.aclose()

    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)

    @app.get("/", include_in_schema=False)
    async def to_dashboard() -> Response:
        return RedirectResponse("/dashboard/", status_code=307)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.mount("/dashboard", dashboard)
    return app
