"""Stock counts and nodes: members see their project's, admins any project or the pool."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from stockyard.api.deps import AdminCtx, ProjectCtx, SessionDep
from stockyard.api.errors import APIError
from stockyard.api.stock.common import api_error
from stockyard.api.stock.schemas import AssignBody, NodeList, NodeOut, StockOut
from stockyard.stock import StockError
from stockyard.stock.inventory import (
    NodeFilter,
    assign_node,
    list_nodes,
    stock_summary,
    unassign_node,
)

router = APIRouter(tags=["stock"])


def _scope(ctx: ProjectCtx, project_id: str | None, pool: bool) -> tuple[str | None, bool]:
    """Members are pinned to their project; admins may pick a project or the pool."""
    if not ctx.is_admin:
        if pool or (project_id is not None and project_id != ctx.project_id):
            raise APIError(403, "Policy doesn't allow this operation: admin only.")
        return ctx.project_id, False
    return project_id, pool


@router.get("/v1/stock", summary="Stock counts", response_model=StockOut)
async def show_stock(
    ctx: ProjectCtx,
    session: SessionDep,
    project_id: str | None = Query(None, description="Admin only: another project's stock."),
    pool: bool = Query(False, description="Admin only: the unassigned pool instead."),
) -> dict[str, Any]:
    """Baremetal stock counts of a project: total, free (owned, no instance), in_use, in
    total and per resource class / availability zone / rack. Members see their own project;
    admins see their own, any ``project_id``, or the unassigned pool (``pool=true``)."""
    project, pool = _scope(ctx, project_id, pool)
    if project is None and not pool:
        project = ctx.project_id
    summary = await stock_summary(session, NodeFilter(project_id=project, pool=pool))
    return {"stock": {"project_id": None if pool else project, "pool": pool, **summary}}


@router.get("/v1/nodes", summary="List stock nodes", response_model=NodeList)
async def show_nodes(
    ctx: ProjectCtx,
    session: SessionDep,
    project_id: str | None = Query(None, description="Admin only: nodes owned by a project."),
    pool: bool = Query(False, description="Admin only: unassigned nodes only."),
    resource_class: str | None = Query(None),
    availability_zone: str | None = Query(None),
    region: str | None = Query(None),
    rack: str | None = Query(None),
    in_use: bool | None = Query(None, description="Only nodes that do (not) hold a server."),
) -> dict[str, Any]:
    """Baremetal nodes. Members: their project's stock. Admins: every baremetal node,
    narrowed by the filters."""
    project, pool = _scope(ctx, project_id, pool)
    flt = NodeFilter(
        project_id=project,
        pool=pool,
        resource_class=resource_class,
        availability_zone=availability_zone,
        region=region,
        rack=rack,
        in_use=in_use,
    )
    return {"nodes": await list_nodes(session, flt)}


@router.post(
    "/v1/nodes/{node_uuid}/assign",
    summary="Assign a node to a project (admin)",
    response_model=NodeOut,
)
async def assign(
    node_uuid: str, body: AssignBody, ctx: AdminCtx, session: SessionDep
) -> dict[str, Any]:
    """Make ``project_id`` the owner of a free node. 409 when another project owns it or
    it holds a server; 400 when the project does not exist."""
    try:
        node = await assign_node(session, node_uuid, body.project_id)
    except StockError as exc:
        raise api_error(exc) from exc
    await session.commit()
    return {"node": node}


@router.post(
    "/v1/nodes/{node_uuid}/unassign",
    summary="Return a node to the pool (admin)",
    response_model=NodeOut,
)
async def unassign(node_uuid: str, ctx: AdminCtx, session: SessionDep) -> dict[str, Any]:
    """Clear the owner of a node; 409 while it holds a server."""
    try:
        node = await unassign_node(session, node_uuid)
    except StockError as exc:
        raise api_error(exc) from exc
    await session.commit()
    return {"node": node}
