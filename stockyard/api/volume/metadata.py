"""Volume metadata routes (``/volumes/{id}/metadata[/{key}]``), Cinder's bodies."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Response

from stockyard.api.deps import ProjectCtx, SessionDep, WriterCtx
from stockyard.api.errors import APIError
from stockyard.api.volume.common import check_metadata, get_volume
from stockyard.db.base import utcnow

router = APIRouter()


def _metadata_body(body: Any, key: str = "metadata") -> dict[str, str]:
    if not isinstance(body, dict) or key not in body:
        raise APIError(400, f"Malformed request body: missing '{key}'")
    return check_metadata(body[key])


@router.get("/volumes/{volume_id}/metadata")
async def list_metadata(volume_id: str, ctx: ProjectCtx, session: SessionDep) -> dict[str, Any]:
    volume = await get_volume(session, ctx, volume_id)
    return {"metadata": dict(volume.metadata_ or {})}


@router.post("/volumes/{volume_id}/metadata")
async def merge_metadata(
    volume_id: str, ctx: WriterCtx, session: SessionDep, body: Any = Body(None)
) -> dict[str, Any]:
    metadata = _metadata_body(body)
    volume = await get_volume(session, ctx, volume_id)
    volume.metadata_ = {**(volume.metadata_ or {}), **metadata}
    volume.updated_at = utcnow()
    await session.commit()
    return {"metadata": dict(volume.metadata_)}


@router.put("/volumes/{volume_id}/metadata")
async def replace_metadata(
    volume_id: str, ctx: WriterCtx, session: SessionDep, body: Any = Body(None)
) -> dict[str, Any]:
    metadata = _metadata_body(body)
    volume = await get_volume(session, ctx, volume_id)
    volume.metadata_ = metadata
    volume.updated_at = utcnow()
    await session.commit()
    return {"metadata": metadata}


@router.get("/volumes/{volume_id}/metadata/{key}")
async def show_item(
    volume_id: str, key: str, ctx: ProjectCtx, session: SessionDep
) -> dict[str, Any]:
    volume = await get_volume(session, ctx, volume_id)
    if key not in (volume.metadata_ or {}):
        raise APIError(404, "Metadata item was not found")
    return {"meta": {key: volume.metadata_[key]}}


@router.put("/volumes/{volume_id}/metadata/{key}")
async def set_item(
    volume_id: str, key: str, ctx: WriterCtx, session: SessionDep, body: Any = Body(None)
) -> dict[str, Any]:
    meta = _metadata_body(body, "meta")
    if key not in meta:
        raise APIError(400, "Request body and URI mismatch")
    if len(meta) > 1:
        raise APIError(400, "Request body contains too many items")
    volume = await get_volume(session, ctx, volume_id)
    volume.metadata_ = {**(volume.metadata_ or {}), **meta}
    volume.updated_at = utcnow()
    await session.commit()
    return {"meta": meta}


@router.delete("/volumes/{volume_id}/metadata/{key}")
async def delete_item(volume_id: str, key: str, ctx: WriterCtx, session: SessionDep) -> Response:
    volume = await get_volume(session, ctx, volume_id)
    metadata = dict(volume.metadata_ or {})
    if key not in metadata:
        raise APIError(404, "Metadata item was not found")
    del metadata[key]
    volume.metadata_ = metadata
    volume.updated_at = utcnow()
    await session.commit()
    return Response(status_code=200)
