"""Operator view: the floor plan with occupancy and node states, the install tasks in
progress, and bulk actions on selected hosts.

The task table refreshes itself with htmx, as the servers list does: the fragment re-arms
its poll only while a task runs (the elapsed time and phase move), and a table without
running tasks carries no trigger, so an idle tab costs nothing.
"""

from __future__ import annotations

import httpx
from fastapi import APIRouter
from fastapi.responses import Response
from markupsafe import Markup

from stockyard.dashboard import operator_data
from stockyard.dashboard.client import APIFailure, Unauthenticated
from stockyard.dashboard.operator_hw import Hardware, running_tasks
from stockyard.dashboard.together import together
from stockyard.dashboard.web import UserPage, checked_form, read_form_lists

router = APIRouter()
ACTIONS = {
    "disable": "Disable the compute service",
    "enable": "Enable the compute service",
    "add": "Add to aggregate",
    "remove": "Remove from aggregate",
}
# Each poll asks every region's hwmgr: a few seconds keeps the elapsed time honest
# without turning open tabs into load on the hardware managers.
POLL_SECONDS = 5


@router.get("/operator")
async def operator(page: UserPage) -> Response:
    plan, hw = await together(operator_data.floor_plan(page.api), running_tasks(page.api))
    return page.render(
        "operator.html",
        plan=plan,
        svg=plan.picture(),
        actions=ACTIONS,
        hw=hw,
        poll=POLL_SECONDS,
        error=None,
        picture=None,
    )


@router.get("/operator/tasks")
async def tasks(page: UserPage) -> Response:
    """The task table, what the polling swaps in, with the floor plan's picture swapped
    out of band (node states move with the tasks; the host table and its checkboxes stay
    as the operator left them). A failed refresh says so and keeps polling (an error
    status would make htmx drop the swap, and the poll with it); the API's 403 ends it."""
    picture: Markup | None = None
    error: str | None = None
    hw: Hardware | None = None
    try:
        plan, hw = await together(operator_data.floor_plan(page.api), running_tasks(page.api))
        picture = plan.picture()
    except Unauthenticated:
        raise
    except APIFailure as exc:
        if exc.status == 403:
            hw = Hardware(available=False)
        else:
            error = exc.message
    except httpx.HTTPError:
        error = "the API did not answer"
    return page.render(
        "_operator_tasks.html", hw=hw, poll=POLL_SECONDS, error=error, picture=picture
    )


@router.post("/operator/hosts")
async def bulk(page: UserPage) -> Response:
    form = await checked_form(page)
    # Checkboxes repeat one name: checked_form keeps the last, so take them all here.
    raw = await read_form_lists(page.request)
    names = sorted(set(raw.get("host", [])))
    action = form.get("action", "")
    if action not in ACTIONS:
        return page.redirect("/operator", "Choose an action.")
    if not names:
        return page.redirect("/operator", "Select at least one host.")
    arg = (
        form.get("reason", "").strip()
        if action in ("enable", "disable")
        else form.get("aggregate", "")
    )
    if action in ("add", "remove") and not arg:
        return page.redirect("/operator", "Choose the aggregate.")
    plan = await operator_data.floor_plan(page.api)
    results = await operator_data.bulk(page.api, plan, names, action, arg)
    done = [n for n, err in results if err is None]
    failed = [f"{n}: {err}" for n, err in results if err is not None]
    message = f"{ACTIONS[action]}: done for {len(done)} of {len(names)} host(s)"
    message += f"; refused for {'; '.join(failed)}." if failed else "."
    return page.redirect("/operator", message)
