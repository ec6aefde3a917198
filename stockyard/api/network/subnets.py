"""/v2.0/subnets."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import select

from stockyard.api.deps import Ctx, SessionDep, WriterCtx
from stockyard.api.network import attributes as attrs
from stockyard.api.network import views
from stockyard.api.network.errors import NeutronRoute
from stockyard.api.network.listing import page, prefilter, select_fields
from stockyard.db.models import Subnet
from stockyard.network import subnets
from stockyard.network.errors import BadRequest

router = APIRouter(route_class=NeutronRoute)
_COLUMNS = {
    "id": Subnet.id,
    "name": Subnet.name,
    "network_id": Subnet.network_id,
    "project_id": Subnet.project_id,
    "tenant_id": Subnet.project_id,
}


@router.get("/v2.0/subnets")
async def list_subnets(request: Request, session: SessionDep, ctx: Ctx) -> dict[str, Any]:
    query = select(Subnet).where(subnets.visible(ctx), *prefilter(request, _COLUMNS))
    rows = await session.scalars(query)
    return page(request, "subnets", [views.subnet(s) for s in rows])


@router.post("/v2.0/subnets", status_code=201)
async def create_subnet(request: Request, session: SessionDep, ctx: WriterCtx) -> dict[str, Any]:
    items, bulk = await attrs.read_many(request, "subnet")
    created = []
    for item in items:
        body = attrs.check(ctx, attrs.SUBNET, item, action="create", resource="subnet")
        for required in ("network_id", "ip_version"):
            if required not in body:
                raise BadRequest(
                    f"Failed to parse request. Required attribute '{required}' not specified"
                )
        created.append(await subnets.create(session, ctx, attrs.owner(ctx, body), body))
    await session.commit()
    rendered = [views.subnet(s) for s in created]
    return {"subnets": rendered} if bulk else {"subnet": rendered[0]}


@router.get("/v2.0/subnets/{subnet_id}")
async def show_subnet(
    subnet_id: str, request: Request, session: SessionDep, ctx: Ctx
) -> dict[str, Any]:
    subnet = await subnets.get(session, ctx, subnet_id)
    return {"subnet": select_fields(request, views.subnet(subnet))}


@router.put("/v2.0/subnets/{subnet_id}")
async def update_subnet(
    subnet_id: str, request: Request, session: SessionDep, ctx: WriterCtx
) -> dict[str, Any]:
    body = attrs.check(
        ctx,
        attrs.SUBNET,
        await attrs.read_body(request, "subnet"),
        action="update",
        resource="subnet",
    )
    subnet = await subnets.update(session, ctx, subnet_id, body)
    await session.commit()
    return {"subnet": views.subnet(subnet)}


@router.delete("/v2.0/subnets/{subnet_id}", status_code=204)
async def delete_subnet(subnet_id: str, session: SessionDep, ctx: WriterCtx) -> Response:
    await subnets.remove(session, ctx, subnet_id)
    await session.commit()
    return Response(status_code=204)
