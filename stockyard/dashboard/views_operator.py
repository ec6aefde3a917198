"""Operator view: the floor plan with occupancy, and bulk actions on selected hosts."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from stockyard.dashboard import operator_data
from stockyard.dashboard.web import UserPage, checked_form, read_form_lists

router = APIRouter()
ACTIONS = {
    "disable": "Disable the compute service",
    "enable": "Enable the compute service",
    "add": "Add to aggregate",
    "remove": "Remove from aggregate",
}


@router.get("/operator")
async def operator(page: UserPage) -> Response:
    plan = await operator_data.floor_plan(page.api)
    return page.render("operator.html", plan=plan, svg=plan.picture(), actions=ACTIONS)


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
