"""Per-server ``ips`` and metadata (``os-interface`` is in ``interfaces``,
``os-security-groups`` in ``security_groups``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from stockyard.api.compute.server_common import (
    check_metadata_quota,
    ensure_unlocked,
    load_server,
)
from stockyard.api.compute.server_schemas import MetadataBody, MetaItemBody
from stockyard.api.deps import ProjectCtx, SessionDep, StateDep, WriterCtx
from stockyard.api.errors import APIError

router = APIRouter()


@router.get("/servers/{server_id}/ips")
async def list_ips(server_id: str, session: SessionDep, ctx: ProjectCtx) -> dict[str, Any]:
    inst = await load_server(session, ctx, server_id)
    return {
        "addresses": {
            net: [{"version": a["version"], "addr": a["addr"]} for a in addrs]
            for net, addrs in (inst.addresses or {}).items()
        }
    }


@router.get("/servers/{server_id}/ips/{network}")
async def show_ips(
    server_id: str, network: str, session: SessionDep, ctx: ProjectCtx
) -> dict[str, Any]:
    inst = await load_server(session, ctx, server_id)
    addrs = (inst.addresses or {}).get(network)
    if addrs is None:
        raise APIError(404, f"Network {network} could not be found for this server.")
    return {network: [{"version": a["version"], "addr": a["addr"]} for a in addrs]}


@router.get("/servers/{server_id}/metadata")
async def get_metadata(server_id: str, session: SessionDep, ctx: ProjectCtx) -> dict[str, Any]:
    inst = await load_server(session, ctx, server_id)
    return {"metadata": dict(inst.metadata_ or {})}


@router.get("/servers/{server_id}/metadata/{key}")
async def get_metadata_item(
    server_id: str, key: str, session: SessionDep, ctx: ProjectCtx
) -> dict[str, Any]:
    inst = await load_server(session, ctx, server_id)
    meta = inst.metadata_ or {}
    if key not in meta:
        raise APIError(404, "Metadata item was not found")
    return {"meta": {key: meta[key]}}


async def _write_metadata(
    state: StateDep,
    session: SessionDep,
    ctx: WriterCtx,
    server_id: str,
    items: dict[str, str],
    replace: bool,
) -> dict[str, str]:
    inst = await load_server(session, ctx, server_id, for_update=True)
    ensure_unlocked(ctx, inst)
    merged = dict(items) if replace else {**(inst.metadata_ or {}), **items}
    await check_metadata_quota(state, session, inst.project_id, len(merged))
    inst.metadata_ = merged
    await session.commit()
    return merged


@router.put("/servers/{server_id}/metadata")
async def replace_metadata(
    server_id: str, body: MetadataBody, state: StateDep, session: SessionDep, ctx: WriterCtx
) -> dict[str, Any]:
    return {"metadata": await _write_metadata(state, session, ctx, server_id, body.metadata, True)}


@router.post("/servers/{server_id}/metadata")
async def update_metadata(
    server_id: str, body: MetadataBody, state: StateDep, session: SessionDep, ctx: WriterCtx
) -> dict[str, Any]:
    return {"metadata": await _write_metadata(state, session, ctx, server_id, body.metadata, False)}


@router.put("/servers/{server_id}/metadata/{key}")
async def set_metadata_item(
    server_id: str,
    key: str,
    body: MetaItemBody,
    state: StateDep,
    session: SessionDep,
    ctx: WriterCtx,
) -> dict[str, Any]:
    if key not in body.meta:
        raise APIError(400, "Request body and URI mismatch: meta key must equal the URL key.")
    await _write_metadata(state, session, ctx, server_id, body.meta, False)
    return {"meta": body.meta}


@router.delete("/servers/{server_id}/metadata/{key}", status_code=204)
async def delete_metadata_item(
    server_id: str, key: str, request: Request, session: SessionDep, ctx: WriterCtx
) -> Response:
    inst = await load_server(session, ctx, server_id, for_update=True)
    ensure_unlocked(ctx, inst)
    meta = dict(inst.metadata_ or {})
    if key not in meta:
        raise APIError(404, f"Metadata item was not found: {key}")
    del meta[key]
    inst.metadata_ = meta
    await session.commit()
    return Response(status_code=204)
