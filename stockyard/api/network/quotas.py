"""/v2.0/quotas: per-project limits of the Networking resources."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from stockyard.api.deps import AdminCtx, Ctx, SessionDep
from stockyard.api.network import attributes as attrs
from stockyard.api.network.errors import NeutronRoute
from stockyard.identity.context import RequestContext
from stockyard.network import quota
from stockyard.network.errors import NeutronError

router = APIRouter(route_class=NeutronRoute)


def _may_read(ctx: RequestContext, project_id: str) -> None:
    if not ctx.is_admin and ctx.project_id != project_id:
        raise NeutronError(
            "Non-admin is not authorized to access quotas for another tenant",
            status=403,
            type="HTTPForbidden",
        )


@router.get("/v2.0/quotas")
async def list_quotas(session: SessionDep, ctx: AdminCtx) -> dict[str, Any]:
    out = []
    for project_id in await quota.overridden_projects(session):
        limits = await quota.limits(session, project_id)
        out.append({**limits, "project_id": project_id, "tenant_id": project_id})
    return {"quotas": out}


@router.get("/v2.0/quotas/{project_id}/default")
async def defaults(project_id: str, ctx: Ctx) -> dict[str, Any]:
    _may_read(ctx, project_id)
    return {"quota": dict(quota.DEFAULTS)}


@router.get("/v2.0/quotas/{project_id}/details")
async def details(project_id: str, session: SessionDep, ctx: Ctx) -> dict[str, Any]:
    _may_read(ctx, project_id)
    limits = await quota.limits(session, project_id)
    used = await quota.usage(session, project_id)
    return {
        "quota": {
            name: {"limit": limit, "used": used[name], "reserved": 0}
            for name, limit in limits.items()
        }
    }


@router.get("/v2.0/quotas/{project_id}")
async def show(project_id: str, session: SessionDep, ctx: Ctx) -> dict[str, Any]:
    _may_read(ctx, project_id)
    return {"quota": await quota.limits(session, project_id)}


@router.put("/v2.0/quotas/{project_id}")
async def update(
    project_id: str, request: Request, session: SessionDep, ctx: AdminCtx
) -> dict[str, Any]:
    values, check_limit = quota.parse_update(await attrs.read_body(request, "quota"))
    if check_limit:
        await quota.check_limits(session, project_id, values)
    await quota.set_limits(session, project_id, values)
    await session.commit()
    return {"quota": await quota.limits(session, project_id)}


@router.delete("/v2.0/quotas/{project_id}", status_code=204)
async def reset(project_id: str, session: SessionDep, ctx: AdminCtx) -> Response:
    await quota.reset(session, project_id)
    await session.commit()
    return Response(status_code=204)
