"""Stock requests: members ask, admins approve (assigning nodes) or reject."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query

from stockyard.api.deps import AdminCtx, ProjectCtx, SessionDep, WriterCtx
from stockyard.api.stock.common import api_error, request_view
from stockyard.api.stock.schemas import RejectBody, RequestCreate, RequestList, RequestOut
from stockyard.stock import StockError
from stockyard.stock.requests import (
    NewRequest,
    approve_request,
    cancel_request,
    create_request,
    get_request,
    list_requests,
    reject_request,
)

router = APIRouter(tags=["stock requests"])
Status = Literal["pending", "approved", "rejected", "cancelled"]


@router.post("/v1/requests", status_code=201, summary="Ask for stock", response_model=RequestOut)
async def create(body: RequestCreate, ctx: WriterCtx, session: SessionDep) -> dict[str, Any]:
    """A pending request for ``count`` nodes of ``resource_class`` in
    ``availability_zone``, optionally spread over at least ``min_racks`` racks."""
    assert ctx.project_id is not None
    new = NewRequest(
        project_id=ctx.project_id,
        user_id=ctx.user_id,
        resource_class=body.resource_class,
        availability_zone=body.availability_zone,
        count=body.count,
        min_racks=body.min_racks,
    )
    try:
        req = await create_request(session, new)
    except StockError as exc:
        raise api_error(exc) from exc
    view = request_view(req)
    await session.commit()
    return {"request": view}


@router.get("/v1/requests", summary="List stock requests", response_model=RequestList)
async def index(
    ctx: ProjectCtx,
    session: SessionDep,
    status: Status | None = Query(None, description="Only requests in this state."),
    all_projects: bool = Query(True, description="Admin: every project (default)."),
) -> dict[str, Any]:
    """Members: their project's requests. Admins: every project's (or only their own with
    ``all_projects=false``). Newest first."""
    project = None if ctx.is_admin and all_projects else ctx.project_id
    reqs = await list_requests(session, project_id=project, status=status)
    return {"requests": [request_view(r) for r in reqs]}


@router.get("/v1/requests/{request_id}", summary="Show a stock request", response_model=RequestOut)
async def show(request_id: str, ctx: ProjectCtx, session: SessionDep) -> dict[str, Any]:
    """One request; another project's request is 404 for a member."""
    try:
        req = await get_request(
            session, request_id, project_id=None if ctx.is_admin else ctx.project_id
        )
    except StockError as exc:
        raise api_error(exc) from exc
    return {"request": request_view(req)}


@router.post(
    "/v1/requests/{request_id}/cancel",
    summary="Cancel a pending request",
    response_model=RequestOut,
)
async def cancel(request_id: str, ctx: WriterCtx, session: SessionDep) -> dict[str, Any]:
    """The requesting project withdraws a pending request; 409 once decided."""
    try:
        req = await cancel_request(
            session,
            request_id,
            project_id=None if ctx.is_admin else ctx.project_id,
            user_id=ctx.user_id,
        )
    except StockError as exc:
        raise api_error(exc) from exc
    view = request_view(req)
    await session.commit()
    return {"request": view}


@router.post(
    "/v1/requests/{request_id}/approve",
    summary="Approve a request (admin)",
    response_model=RequestOut,
)
async def approve(request_id: str, ctx: AdminCtx, session: SessionDep) -> dict[str, Any]:
    """Assign ``count`` free unassigned enabled nodes of the class in the AZ to the
    project, round-robin over the racks with the most free nodes, on at least
    ``min_racks`` racks. All or nothing: a shortfall is 409 naming it and the request
    stays pending."""
    try:
        req = await approve_request(session, request_id, ctx.user_id)
    except StockError as exc:
        raise api_error(exc) from exc
    return {"request": request_view(req)}


@router.post(
    "/v1/requests/{request_id}/reject",
    summary="Reject a request (admin)",
    response_model=RequestOut,
)
async def reject(
    request_id: str, body: RejectBody, ctx: AdminCtx, session: SessionDep
) -> dict[str, Any]:
    """Turn a pending request down with a reason the requester sees."""
    try:
        req = await reject_request(session, request_id, reason=body.reason, admin_id=ctx.user_id)
    except StockError as exc:
        raise api_error(exc) from exc
    view = request_view(req)
    await session.commit()
    return {"request": view}
