"""Login (Keystone password auth), project switch (token re-scope) and logout (revoke)."""

from __future__ import annotations

import contextlib

from fastapi import APIRouter, Request
from fastapi.responses import Response

from stockyard.dashboard.client import APIFailure
from stockyard.dashboard.web import AnyPage, Page, UserPage, checked_form, redirect

router = APIRouter()


@router.get("/", include_in_schema=False)
async def home(page: AnyPage) -> Response:
    return page.redirect("/servers" if page.session.token else "/login")


@router.get("/login")
async def login_form(page: AnyPage) -> Response:
    if page.session.token is not None and not page.session.token.expired:
        return page.redirect("/servers")
    return page.render("login.html", form={"domain": "Default"}, error=None)


@router.post("/login")
async def login(page: AnyPage) -> Response:
    form = await checked_form(page)
    username = form.get("username", "").strip()
    project = form.get("project", "").strip()
    domain = form.get("domain", "").strip() or "Default"
    if not username or not form.get("password") or not project:
        return _login_failed(page, form, "User name, password and project are all required.")
    try:
        token = await page.dash.identity.password(username, form["password"], project, domain)
    except APIFailure as exc:
        # Keystone's 401 says nothing about which part was wrong; neither do we.
        reason = "wrong user name, password or project" if exc.status == 401 else exc.message
        return _login_failed(page, form, f"Login failed: {reason}.")
    # A new session id on login: an id planted before login is worth nothing after it.
    page.dash.sessions.drop(page.session.id)
    session = page.dash.sessions.new()
    session.token = token
    session.projects = await page.dash.identity.projects(token)
    return redirect(page.request, "/servers", session, page.dash)


def _login_failed(page: Page, form: dict[str, str], error: str) -> Response:
    shown = {k: v for k, v in form.items() if k != "password"}
    return page.render("login.html", 401, form=shown, error=error)


@router.post("/project")
async def switch_project(page: UserPage) -> Response:
    """Re-scope the session's token to another of the user's projects."""
    form = await checked_form(page)
    project_id = form.get("project_id", "")
    old = page.api.token
    if project_id == old.project_id:
        return page.redirect("/servers")
    try:
        new = await page.dash.identity.rescope(old, project_id)
    except APIFailure as exc:
        # Keystone answers 401 also for "no role on that project": the session goes on;
        # if the token itself died, the next page's API call finds out and logs out.
        return page.redirect("/servers", f"Could not switch project: {exc.message}")
    page.session.token = new
    page.session.projects = await page.dash.identity.projects(new)
    # One live token per session, so that logout ends everything the session held.
    with contextlib.suppress(APIFailure):
        await page.dash.identity.revoke(old)
    return page.redirect("/servers", f"Now working in project {new.project_name}.")


@router.post("/logout")
async def logout(request: Request, page: AnyPage) -> Response:
    await checked_form(page)
    if page.session.token is not None:
        with contextlib.suppress(APIFailure):
            await page.dash.identity.revoke(page.session.token)
    page.dash.sessions.drop(page.session.id)
    session = page.dash.sessions.new()
    session.flash = "You are logged out."
    return redirect(request, "/login", session, page.dash)
