"""/v2.0/ports."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import select

from stockyard.api.deps import Ctx, SessionDep, WriterCtx
from stockyard.api.network import attributes as attrs
from stockyard.api.network.errors import NeutronRoute
from stockyard.api.network.listing import page, prefilter, select_fields
from stockyard.api.network.render import ports_
from stockyard.db.models import Port
from stockyard.network import ports
from stockyard.network.errors import BadRequest

router = APIRouter(route_class=NeutronRoute)
_COLUMNS = {
    "id": Port.id,
    "name": Port.name,
    "network_id": Port.network_id,
    "device_id": Port.device_id,
    "device_owner": Port.device_owner,
    "mac_address": Port.mac_address,
    "project_id": Port.project_id,
    "tenant_id": Port.project_id,
}


@router.get("/v2.0/ports")
async def list_ports(request: Request, session: SessionDep, ctx: Ctx) -> dict[str, Any]:
    # The common filters go to SQL first: a server's or a network's ports are few of many.
    query = select(Port).where(ports.visible(ctx), *prefilter(request, _COLUMNS))
    rows = list(await session.scalars(query))
    return page(request, "ports", await ports_(session, ctx, rows))


@router.post("/v2.0/ports", status_code=201)
async def create_port(request: Request, session: SessionDep, ctx: WriterCtx) -> dict[str, Any]:
    items, bulk = await attrs.read_many(request, "port")
    created = []
    for item in items:
        body = attrs.check(ctx, attrs.PORT, item, action="create", resource="port")
        if "network_id" not in body:
            raise BadRequest(
                "Failed to parse request. Required attribute 'network_id' not specified"
            )
        created.append(await ports.create(session, ctx, attrs.owner(ctx, body), body))
    rendered = await ports_(session, ctx, created)
    await session.commit()
    return {"ports": rendered} if bulk else {"port": rendered[0]}


@router.get("/v2.0/ports/{port_id}")
async def show_port(
    port_id: str, request: Request, session: SessionDep, ctx: Ctx
) -> dict[str, Any]:
    port = await ports.get(session, ctx, port_id)
    return {"port": select_fields(request, (await ports_(session, ctx, [port]))[0])}


@router.put("/v2.0/ports/{port_id}")
async def update_port(
    port_id: str, request: Request, session: SessionDep, ctx: WriterCtx
) -> dict[str, Any]:
    body = attrs.check(
        ctx, attrs.PORT, await attrs.read_body(request, "port"), action="update", resource="port"
    )
    port = await ports.update(session, ctx, port_id, body)
    rendered = (await ports_(session, ctx, [port]))[0]
    await session.commit()
    return {"port": rendered}


@router.delete("/v2.0/ports/{port_id}", status_code=204)
async def delete_port(port_id: str, session: SessionDep, ctx: WriterCtx) -> Response:
    await ports.remove(session, ctx, port_id)
    await session.commit()
    return Response(status_code=204)
