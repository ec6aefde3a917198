"""/v2.0/networks."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import select

from stockyard.api.deps import Ctx, SessionDep, WriterCtx
from stockyard.api.network import attributes as attrs
from stockyard.api.network.errors import NeutronRoute
from stockyard.api.network.listing import page, prefilter, select_fields
from stockyard.api.network.render import networks_
from stockyard.db.models import Network
from stockyard.network import networks

router = APIRouter(route_class=NeutronRoute)
_COLUMNS = {
    "id": Network.id,
    "name": Network.name,
    "project_id": Network.project_id,
    "tenant_id": Network.project_id,
}


@router.get("/v2.0/networks")
async def list_networks(request: Request, session: SessionDep, ctx: Ctx) -> dict[str, Any]:
    query = select(Network).where(networks.visible(ctx), *prefilter(request, _COLUMNS))
    rows = list(await session.scalars(query))
    return page(request, "networks", await networks_(session, ctx, rows))


@router.post("/v2.0/networks", status_code=201)
async def create_network(request: Request, session: SessionDep, ctx: WriterCtx) -> dict[str, Any]:
    items, bulk = await attrs.read_many(request, "network")
    created = []
    for item in items:
        body = attrs.check(ctx, attrs.NETWORK, item, action="create", resource="network")
        created.append(await networks.create(session, attrs.owner(ctx, body), body))
    rendered = await networks_(session, ctx, created)
    await session.commit()
    return {"networks": rendered} if bulk else {"network": rendered[0]}


@router.get("/v2.0/networks/{network_id}")
async def show_network(
    network_id: str, request: Request, session: SessionDep, ctx: Ctx
) -> dict[str, Any]:
    net = await networks.get(session, ctx, network_id)
    return {"network": select_fields(request, (await networks_(session, ctx, [net]))[0])}


@router.put("/v2.0/networks/{network_id}")
async def update_network(
    network_id: str, request: Request, session: SessionDep, ctx: WriterCtx
) -> dict[str, Any]:
    body = attrs.check(
        ctx,
        attrs.NETWORK,
        await attrs.read_body(request, "network"),
        action="update",
        resource="network",
    )
    net = await networks.update(session, ctx, network_id, body)
    rendered = (await networks_(session, ctx, [net]))[0]
    await session.commit()
    return {"network": rendered}


@router.delete("/v2.0/networks/{network_id}", status_code=204)
async def delete_network(network_id: str, session: SessionDep, ctx: WriterCtx) -> Response:
    await networks.remove(session, ctx, network_id)
    await session.commit()
    return Response(status_code=204)
