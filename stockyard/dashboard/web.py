"""What every dashboard view shares: the session, CSRF, forms, templates and redirects.

Views get a :class:`Page` (the request, its session, and for logged-in views a
:class:`~stockyard.dashboard.client.Cloud` for the user's token) from the dependencies
below. A dead token (the API's 401) anywhere becomes a redirect to the login page through
the app's exception handlers, never a stack trace.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs

import httpx
import jinja2
from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from stockyard.dashboard.client import Cloud, Identity
from stockyard.dashboard.servers_render import rows_html
from stockyard.dashboard.sessions import COOKIE, Session, SessionStore

TEMPLATES = Path(__file__).parent / "templates"
MAX_FORM_BYTES = 64 * 1024


class LoginRequired(Exception):
    """No session with a live token: go to the login page (``flash`` says why)."""

    def __init__(self, flash: str | None = None) -> None:
        super().__init__(flash or "login required")
        self.flash = flash


class BadRequest(Exception):
    """A request the dashboard refuses itself (bad CSRF token, oversized form)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Dashboard:
    """The dashboard's process-wide state: HTTP client, identity, sessions, templates."""

    http: httpx.AsyncClient
    identity: Identity
    sessions: SessionStore
    templates: jinja2.Environment
    secure_cookies: bool

    async def aclose(self) -> None:
        await self.http.aclose()


def make_templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["rows_html"] = rows_html  # the servers table's hot loop, in Python
    return env


def dashboard_of(request: Request) -> Dashboard:
    dash: Dashboard = request.app.state.dashboard
    return dash


def root(request: Request) -> str:
    """The path the dashboard is mounted at ("/dashboard"), for links and redirects."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


@dataclass
class Page:
    """One request's context for the views."""

    request: Request
    dash: Dashboard
    session: Session
    cloud: Cloud | None = None

    @property
    def root(self) -> str:
        return root(self.request)

    @property
    def api(self) -> Cloud:
        assert self.cloud is not None, "a logged-in view"
        return self.cloud

    def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        """The template with what every page needs (root, user, CSRF token, flash)."""
        base = {
            "root": self.root,
            "csrf": self.session.csrf,
            "token": self.session.token,
            "projects": self.session.projects,
            "flash": self.session.pop_flash(),
        }
        html = self.dash.templates.get_template(template).render(**base, **context)
        response = HTMLResponse(html, status_code=status)
        self.set_cookie(response)
        return response

    def redirect(self, path: str, flash: str | None = None) -> Response:
        """303 to ``path`` under the dashboard (htmx: ``HX-Redirect``, a full navigation)."""
        if flash:
            self.session.flash = flash
        return redirect(self.request, path, self.session, self.dash)

    def set_cookie(self, response: Response) -> None:
        response.set_cookie(
            COOKIE,
            self.session.id,
            httponly=True,
            samesite="strict",
            secure=self.dash.secure_cookies,
            path=self.root or "/",
        )


def redirect(request: Request, path: str, session: Session | None, dash: Dashboard) -> Response:
    url = f"{root(request)}{path}"
    response: Response
    if is_htmx(request):
        response = Response(status_code=200, headers={"HX-Redirect": url})
    else:
        response = RedirectResponse(url, status_code=303)
    if session is not None:
        Page(request, dash, session).set_cookie(response)
    return response


async def read_form(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (the only kind the forms send);
    for a repeated field the last value wins."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise BadRequest(413, "The form is too large.")
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[-1] for k, v in fields.items()}


async def read_form_lists(request: Request) -> dict[str, list[str]]:
    """The same body with every value of a repeated field (checkboxes)."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise BadRequest(413, "The form is too large.")
    return parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)


def _session(request: Request) -> Session:
    """The browser's session, or a new anonymous one (it carries the login form's CSRF)."""
    dash = dashboard_of(request)
    session = dash.sessions.get(request.cookies.get(COOKIE))
    return session if session is not None else dash.sessions.new()


async def any_page(request: Request) -> Page:
    return Page(request, dashboard_of(request), _session(request))


async def user_page(request: Request) -> Page:
    """A page for a logged-in user; LoginRequired when the token is gone or expired."""
    dash = dashboard_of(request)
    session = dash.sessions.get(request.cookies.get(COOKIE))
    if session is None or session.token is None:
        raise LoginRequired()
    if session.token.expired:
        dash.sessions.drop(session.id)
        raise LoginRequired("Your session has expired; please log in again.")
    return Page(request, dash, session, Cloud(dash.http, session.token))


async def checked_form(page: Page) -> dict[str, str]:
    """The POSTed form, after its CSRF token (field or ``X-CSRF-Token``) matched."""
    form = await read_form(page.request)
    presented = form.get("csrf_token") or page.request.headers.get("X-CSRF-Token")
    if not page.session.csrf_ok(presented):
        raise BadRequest(403, "The form expired or did not come from this dashboard; reload it.")
    return form


AnyPage = Annotated[Page, Depends(any_page)]
UserPage = Annotated[Page, Depends(user_page)]
