"""Servers: list (self-refreshing while something moves), create, detail, actions.

Auto-refresh is htmx polling, not server-sent events: the API has no change feed, so SSE
would only move the same polling into the dashboard and hold one connection and one task
per open tab. The list fragment re-arms its own poll only while a server is in a
transitional state, each time a little later (1 s, 1.5 s, ... up to 10 s), and a stable
list carries no trigger at all, so an idle tab costs nothing.
"""

from __future__ import annotations

import httpx
from fastapi import APIRouter, Query
from fastapi.responses import Response

from stockyard.dashboard import launch as launching
from stockyard.dashboard.client import APIFailure, Unauthenticated
from stockyard.dashboard.servers_data import ACTIONS, images, run_action, server_detail, server_list
from stockyard.dashboard.web import Page, UserPage, checked_form

router = APIRouter()

FIRST_DELAY = 1.0
MAX_DELAY = 10.0
BACKOFF = 1.5


def _poll(delay: float) -> tuple[float, float]:
    """(this delay, the next one), both within [FIRST_DELAY, MAX_DELAY]."""
    now = min(max(delay, FIRST_DELAY), MAX_DELAY)
    return now, min(round(now * BACKOFF, 1), MAX_DELAY)


async def _table(page: Page, delay: float, template: str) -> Response:
    servers = await server_list(page.api)
    now, after = _poll(delay)
    return page.render(template, servers=servers, delay=now, next_delay=after)


@router.get("/servers")
async def servers_page(page: UserPage) -> Response:
    return await _table(page, FIRST_DELAY, "servers.html")


@router.get("/servers/table")
async def servers_table(page: UserPage, delay: float = Query(FIRST_DELAY)) -> Response:
    """The list alone, what the polling swaps in. A failed refresh says so and keeps
    polling (an error status would make htmx drop the swap, and the polling with it)."""
    try:
        return await _table(page, delay, "_servers_table.html")
    except Unauthenticated:
        raise
    except (APIFailure, httpx.HTTPError) as exc:
        message = exc.message if isinstance(exc, APIFailure) else "the API did not answer"
        now, after = _poll(delay)
        return page.render("_servers_retry.html", message=message, delay=now, next_delay=after)


async def _launch_form(
    page: Page, form: dict[str, str], error: str | None, status: int = 200
) -> Response:
    opts = await launching.options(page.api)
    return page.render(
        "server_create.html",
        status,
        opts=opts,
        form=form,
        error=error,
        policies=launching.POLICIES,
        domains=launching.FAILURE_DOMAINS,
        max_count=launching.MAX_COUNT,
    )


@router.get("/servers/new")
async def create_form(page: UserPage, group: str = Query("", max_length=64)) -> Response:
    """The form; ``?group=`` preselects an HA group (an id, or ``new``)."""
    return await _launch_form(page, {"count": "1", "network": "auto", "group": group}, None)


@router.post("/servers")
async def create(page: UserPage) -> Response:
    form = await checked_form(page)
    try:
        count = await launching.launch(page.api, form)
    except launching.FormError as exc:
        return await _launch_form(page, form, str(exc), 400)
    except APIFailure as exc:
        if exc.status == 401:
            raise
        return await _launch_form(page, form, exc.message, exc.status)
    noun = "server" if count == 1 else "servers"
    return page.redirect("/servers", f"Creating {count} {noun} named {form.get('name', '')}.")


@router.get("/servers/{server_id}")
async def detail(page: UserPage, server_id: str, delay: float = Query(FIRST_DELAY)) -> Response:
    """The server; while it is transitional the page's main part polls itself (htmx
    picks ``#detail`` out of the same page), backing off as the list does."""
    info = await server_detail(page.api, server_id)
    now, after = _poll(delay)
    return page.render(
        "server_detail.html", server=info, actions=ACTIONS, delay=now, next_delay=after
    )


@router.get("/servers/{server_id}/confirm/{action}")
async def confirm(page: UserPage, server_id: str, action: str) -> Response:
    """The confirmation step of an action: a page with one form, no JavaScript needed."""
    if action not in ACTIONS:
        return page.render("error.html", 404, message=f"There is no action {action!r}.")
    body = await page.api.compute("GET", f"/servers/{server_id}")
    image_list = await images(page.api) if action == "rebuild" else []
    label, meaning = ACTIONS[action]
    return page.render(
        "confirm.html",
        server=body["server"],
        action=action,
        label=label,
        meaning=meaning,
        images=[i for i in image_list if i.get("status") == "active"],
    )


@router.post("/servers/{server_id}/action")
async def act(page: UserPage, server_id: str) -> Response:
    form = await checked_form(page)
    action = form.get("action", "")
    if action not in ACTIONS:
        return page.render("error.html", 400, message=f"There is no action {action!r}.")
    name = form.get("name") or server_id
    label = ACTIONS[action][0]
    try:
        await run_action(page.api, server_id, action, form)
    except APIFailure as exc:
        if exc.status == 401:
            raise
        return page.redirect(f"/servers/{server_id}", f"{label} of {name} refused: {exc.message}")
    if action == "delete":
        return page.redirect("/servers", f"Deleting {name}.")
    return page.redirect(f"/servers/{server_id}", f"{label} of {name} requested.")
