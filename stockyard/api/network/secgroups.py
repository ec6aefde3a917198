"""/v2.0/security-groups and /v2.0/security-group-rules."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import select, true

from stockyard.api.deps import Ctx, SessionDep, WriterCtx
from stockyard.api.network import attributes as attrs
from stockyard.api.network import views
from stockyard.api.network.errors import NeutronRoute
from stockyard.api.network.listing import page, prefilter, select_fields
from stockyard.api.network.render import groups_
from stockyard.db.models import SecurityGroup, SecurityGroupRule
from stockyard.network import secgroups
from stockyard.network.errors import BadRequest

router = APIRouter(route_class=NeutronRoute)
_GROUP_COLUMNS = {
    "id": SecurityGroup.id,
    "name": SecurityGroup.name,
    "project_id": SecurityGroup.project_id,
    "tenant_id": SecurityGroup.project_id,
}
_RULE_COLUMNS = {
    "id": SecurityGroupRule.id,
    "security_group_id": SecurityGroupRule.security_group_id,
    "direction": SecurityGroupRule.direction,
    "project_id": SecurityGroupRule.project_id,
    "tenant_id": SecurityGroupRule.project_id,
}


@router.get("/v2.0/security-groups")
async def list_groups(request: Request, session: SessionDep, ctx: Ctx) -> dict[str, Any]:
    if ctx.project_id is not None:
        # Neutron creates the caller's default group the first time it is looked for.
        await secgroups.ensure_default(session, ctx.project_id)
        await session.commit()
    mine = true() if ctx.is_admin else SecurityGroup.project_id == ctx.project_id
    query = select(SecurityGroup).where(mine, *prefilter(request, _GROUP_COLUMNS))
    rows = list(await session.scalars(query))
    return page(request, "security_groups", await groups_(session, rows))


@router.post("/v2.0/security-groups", status_code=201)
async def create_group(request: Request, session: SessionDep, ctx: WriterCtx) -> dict[str, Any]:
    spec = attrs.SECURITY_GROUP
    body = attrs.check(
        ctx,
        spec,
        await attrs.read_body(request, "security_group"),
        action="create",
        resource="security_group",
    )
    group = await secgroups.create_group(
        session, attrs.owner(ctx, body), body.get("name", ""), body.get("description", "")
    )
    rendered = (await groups_(session, [group]))[0]
    await session.commit()
    return {"security_group": rendered}


@router.get("/v2.0/security-groups/{group_id}")
async def show_group(
    group_id: str, request: Request, session: SessionDep, ctx: Ctx
) -> dict[str, Any]:
    group = await secgroups.get_group(session, ctx, group_id)
    return {"security_group": select_fields(request, (await groups_(session, [group]))[0])}


@router.put("/v2.0/security-groups/{group_id}")
async def update_group(
    group_id: str, request: Request, session: SessionDep, ctx: WriterCtx
) -> dict[str, Any]:
    spec = attrs.SECURITY_GROUP
    body = attrs.check(
        ctx,
        spec,
        await attrs.read_body(request, "security_group"),
        action="update",
        resource="security_group",
    )
    group = await secgroups.update_group(session, ctx, group_id, body)
    rendered = (await groups_(session, [group]))[0]
    await session.commit()
    return {"security_group": rendered}


@router.delete("/v2.0/security-groups/{group_id}", status_code=204)
async def delete_group(group_id: str, session: SessionDep, ctx: WriterCtx) -> Response:
    await secgroups.delete_group(session, ctx, group_id)
    await session.commit()
    return Response(status_code=204)


@router.get("/v2.0/security-group-rules")
async def list_rules(request: Request, session: SessionDep, ctx: Ctx) -> dict[str, Any]:
    mine = true() if ctx.is_admin else SecurityGroupRule.project_id == ctx.project_id
    query = select(SecurityGroupRule).where(mine, *prefilter(request, _RULE_COLUMNS))
    rows = await session.scalars(query)
    return page(request, "security_group_rules", [views.rule(r) for r in rows])


@router.post("/v2.0/security-group-rules", status_code=201)
async def create_rule(request: Request, session: SessionDep, ctx: WriterCtx) -> dict[str, Any]:
    spec = attrs.SECURITY_GROUP_RULE
    body = attrs.check(
        ctx,
        spec,
        await attrs.read_body(request, "security_group_rule"),
        action="create",
        resource="security_group_rule",
    )
    if "security_group_id" not in body:
        raise BadRequest(
            "Failed to parse request. Required attribute 'security_group_id' not specified"
        )
    if "direction" not in body:
        raise BadRequest("Failed to parse request. Required attribute 'direction' not specified")
    row = await secgroups.create_rule(session, ctx, body)
    rendered = views.rule(row)
    await session.commit()
    return {"security_group_rule": rendered}


@router.get("/v2.0/security-group-rules/{rule_id}")
async def show_rule(
    rule_id: str, request: Request, session: SessionDep, ctx: Ctx
) -> dict[str, Any]:
    row = await secgroups.get_rule(session, ctx, rule_id)
    return {"security_group_rule": select_fields(request, views.rule(row))}


@router.delete("/v2.0/security-group-rules/{rule_id}", status_code=204)
async def delete_rule(rule_id: str, session: SessionDep, ctx: WriterCtx) -> Response:
    await secgroups.delete_rule(session, ctx, rule_id)
    await session.commit()
    return Response(status_code=204)
