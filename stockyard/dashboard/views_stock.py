"""Stock: the project's baremetal stock, its requests, and the admins' decisions."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from stockyard.dashboard import stock_data
from stockyard.dashboard.client import APIFailure
from stockyard.dashboard.web import Page, UserPage, checked_form

router = APIRouter()
DECISIONS = {"approve": "Approval", "reject": "Rejection", "cancel": "Cancellation"}


async def _page(page: Page, form: dict[str, str], error: str | None, status: int = 200) -> Response:
    data = await stock_data.stock_page(page.api)
    names = {**data.project_names, **{p["id"]: p["name"] for p in page.session.projects}}
    return page.render("stock.html", status, data=data, form=form, error=error, names=names)


@router.get("/stock")
async def stock(page: UserPage) -> Response:
    return await _page(page, {"count": "1"}, None)


@router.post("/stock/requests")
async def ask(page: UserPage) -> Response:
    form = await checked_form(page)
    try:
        made = await stock_data.create_request(page.api, form)
    except stock_data.FormError as exc:
        return await _page(page, form, str(exc), 400)
    except APIFailure as exc:
        if exc.status == 401:
            raise
        return await _page(page, form, exc.message, exc.status)
    return page.redirect(
        "/stock",
        f"Asked for {made['count']} {made['resource_class']} in {made['availability_zone']}: "
        f"{made['status']}.",
    )


@router.post("/stock/requests/{request_id}/{decision}")
async def decide(page: UserPage, request_id: str, decision: str) -> Response:
    form = await checked_form(page)
    if decision not in DECISIONS:
        return page.render("error.html", 404, message=f"There is no decision {decision!r}.")
    reason = form.get("reason", "").strip()
    if decision == "reject" and not reason:
        return page.redirect("/stock", "A rejection needs a reason the requester will read.")
    try:
        done = await stock_data.decide(page.api, request_id, decision, reason)
    except APIFailure as exc:
        if exc.status == 401:
            raise
        return page.redirect("/stock", f"{DECISIONS[decision]} refused: {exc.message}")
    nodes = len(done.get("assigned_nodes") or [])
    extra = f" ({nodes} node{'s' if nodes != 1 else ''} assigned)" if nodes else ""
    return page.redirect("/stock", f"Request {request_id[:8]} is now {done['status']}{extra}.")
