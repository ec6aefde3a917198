"""Metadata routes of volumes and snapshots (``/<kind>/{id}/metadata[/{key}]``), with
Cinder's bodies; one set of handlers registered for both resources."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Body, Response
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.api.deps import ProjectCtx, SessionDep, WriterCtx
from stockyard.api.errors import APIError
from stockyard.api.volume.common import check_metadata, get_snapshot, get_volume
from stockyard.db.base import utcnow
from stockyard.db.models import Volume, VolumeSnapshot
from stockyard.identity.context import RequestContext

router = APIRouter()
Getter = Callable[[AsyncSession, RequestContext, str], Awaitable[Volume | VolumeSnapshot]]


def _metadata_body(body: Any, key: str = "metadata") -> dict[str, str]:
    if not isinstance(body, dict) or key not in body:
        raise APIError(400, f"Malformed request body: missing '{key}'")
    return check_metadata(body[key])


def _register(kind: str, get: Getter) -> None:
    base = f"/{kind}/{{row_id}}/metadata"

    @router.get(base, name=f"{kind}_metadata_list")
    async def list_metadata(row_id: str, ctx: ProjectCtx, session: SessionDep) -> dict[str, Any]:
        row = await get(session, ctx, row_id)
        return {"metadata": dict(row.metadata_ or {})}

    @router.post(base, name=f"{kind}_metadata_merge")
    async def merge_metadata(
        row_id: str, ctx: WriterCtx, session: SessionDep, body: Any = Body(None)
    ) -> dict[str, Any]:
        metadata = _metadata_body(body)
        row = await get(session, ctx, row_id)
        row.metadata_ = {**(row.metadata_ or {}), **metadata}
        row.updated_at = utcnow()
        await session.commit()
        return {"metadata": dict(row.metadata_)}

    @router.put(base, name=f"{kind}_metadata_replace")
    async def replace_metadata(
        row_id: str, ctx: WriterCtx, session: SessionDep, body: Any = Body(None)
    ) -> dict[str, Any]:
        metadata = _metadata_body(body)
        row = await get(session, ctx, row_id)
        row.metadata_ = metadata
        row.updated_at = utcnow()
        await session.commit()
        return {"metadata": metadata}

    @router.get(f"{base}/{{key}}", name=f"{kind}_metadata_show")
    async def show_item(
        row_id: str, key: str, ctx: ProjectCtx, session: SessionDep
    ) -> dict[str, Any]:
        row = await get(session, ctx, row_id)
        if key not in (row.metadata_ or {}):
            raise APIError(404, "Metadata item was not found")
        return {"meta": {key: row.metadata_[key]}}

    @router.put(f"{base}/{{key}}", name=f"{kind}_metadata_set")
    async def set_item(
        row_id: str, key: str, ctx: WriterCtx, session: SessionDep, body: Any = Body(None)
    ) -> dict[str, Any]:
        meta = _metadata_body(body, "meta")
        if key not in meta:
            raise APIError(400, "Request body and URI mismatch")
        if len(meta) > 1:
            raise APIError(400, "Request body contains too many items")
        row = await get(session, ctx, row_id)
        row.metadata_ = {**(row.metadata_ or {}), **meta}
        row.updated_at = utcnow()
        await session.commit()
        return {"meta": meta}

    @router.delete(f"{base}/{{key}}", name=f"{kind}_metadata_delete")
    async def delete_item(row_id: str, key: str, ctx: WriterCtx, session: SessionDep) -> Response:
        row = await get(session, ctx, row_id)
        metadata = dict(row.metadata_ or {})
        if key not in metadata:
            raise APIError(404, "Metadata item was not found")
        del metadata[key]
        row.metadata_ = metadata
        row.updated_at = utcnow()
        await session.commit()
        return Response(status_code=200)


_register("volumes", get_volume)
_register("snapshots", get_snapshot)
