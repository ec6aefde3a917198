"""The attachments API (3.27+): ``/attachments`` create (reserve, or reserve and connect
with a connector), show, list, detail, update with a connector, ``os-complete`` (3.44)
and delete. The status moves live in :mod:`stockyard.volume.attachments`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.api.deps import ProjectCtx, SessionDep, StateDep, WriterCtx
from stockyard.api.errors import APIError
from stockyard.api.microversion import APIVersion
from stockyard.api.volume.common import VolumeVersion, get_volume, iso, parse_limit
from stockyard.db.models import Volume, VolumeAttachment
from stockyard.identity.context import RequestContext
from stockyard.volume import attachments as flow

router = APIRouter()
NEW_ATTACH = APIVersion(3, 27)
ATTACH_COMPLETION = APIVersion(3, 44)
_FILTERS = {"volume_id", "status", "instance_id", "attach_status"}


def _require(version: APIVersion, needed: APIVersion) -> None:
    # Cinder routes a request below the controller's version to "not found".
    if version < needed:
        raise APIError(404, "The resource could not be found.")


def summary(att: VolumeAttachment) -> dict[str, Any]:
    return {
        "id": att.id,
        "status": att.attach_status,
        "instance": att.instance_uuid,
        "volume_id": att.volume_id,
    }


def detail(att: VolumeAttachment) -> dict[str, Any]:
    return {
        **summary(att),
        "attached_at": iso(att.attach_time) or "",
        "detached_at": iso(att.detach_time) or "",
        "attach_mode": att.attach_mode,
        "connection_info": att.connection_info,
    }


async def _get(s: AsyncSession, ctx: RequestContext, attachment_id: str) -> VolumeAttachment:
    att = await s.get(VolumeAttachment, attachment_id)
    if att is None or (att.project_id != ctx.project_id and not ctx.is_admin):
        raise APIError(
            404,
            f"Volume attachment could not be found with filter: attachment_id = {attachment_id}.",
        )
    return att


async def _volume(s: AsyncSession, att: VolumeAttachment) -> Volume:
    volume = await s.get(Volume, att.volume_id)
    if volume is None:
        raise APIError(404, f"Volume {att.volume_id} could not be found.")
    return volume


def _refused(exc: flow.AttachError) -> APIError:
    return APIError(exc.code, exc.message)


@router.post("/attachments")
async def create_attachment(
    ctx: WriterCtx,
    session: SessionDep,
    state: StateDep,
    version: VolumeVersion,
    body: Any = Body(None),
) -> JSONResponse:
    _require(version, NEW_ATTACH)
    data = body.get("attachment") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        raise APIError(400, "Missing required element 'attachment' in request body.")
    for key in ("instance_uuid", "volume_uuid"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise APIError(400, f"Must specify '{key}' to create attachment.")
    extra = set(data) - {"instance_uuid", "volume_uuid", "connector", "mode"}
    if extra:
        raise APIError(400, f"Additional properties are not allowed ({', '.join(sorted(extra))}).")
    connector = data.get("connector")
    if connector is not None and not isinstance(connector, dict):
        raise APIError(400, "Invalid input for field/attribute connector: must be an object.")
    volume = await get_volume(session, ctx, data["volume_uuid"])
    try:
        att = await flow.reserve(session, volume, data["instance_uuid"])
        if connector:
            await flow.connect(session, state.settings, att, volume, connector)
    except flow.AttachError as exc:
        await session.rollback()
        raise _refused(exc) from None
    await session.commit()
    return JSONResponse({"attachment": detail(att)})


@router.get("/attachments")
async def list_attachments(
    ctx: ProjectCtx, session: SessionDep, version: VolumeVersion, request: Request
) -> dict[str, Any]:
    _require(version, NEW_ATTACH)
    return {"attachments": [summary(a) for a in await _items(session, ctx, request)]}


@router.get("/attachments/detail")
async def list_attachments_detail(
    ctx: ProjectCtx, session: SessionDep, version: VolumeVersion, request: Request
) -> dict[str, Any]:
    _require(version, NEW_ATTACH)
    return {"attachments": [detail(a) for a in await _items(session, ctx, request)]}


async def _items(s: AsyncSession, ctx: RequestContext, request: Request) -> list[VolumeAttachment]:
    params = request.query_params
    stmt = select(VolumeAttachment).order_by(
        VolumeAttachment.created_at.desc(), VolumeAttachment.id.desc()
    )
    if not (ctx.is_admin and "all_tenants" in params):
        stmt = stmt.where(VolumeAttachment.project_id == ctx.project_id)
    if volume_id := params.get("volume_id"):
        stmt = stmt.where(VolumeAttachment.volume_id == volume_id)
    if instance_id := params.get("instance_id"):
        stmt = stmt.where(VolumeAttachment.instance_uuid == instance_id)
    if status := params.get("status") or params.get("attach_status"):
        stmt = stmt.where(VolumeAttachment.attach_status == status)
    rows = list(await s.scalars(stmt))
    if marker := params.get("marker"):
        ids = [r.id for r in rows]
        if marker not in ids:
            raise APIError(404, f"Marker {marker} could not be found.")
        rows = rows[ids.index(marker) + 1 :]
    return rows[: parse_limit(request)]


@router.get("/attachments/{attachment_id}")
async def show_attachment(
    attachment_id: str, ctx: ProjectCtx, session: SessionDep, version: VolumeVersion
) -> dict[str, Any]:
    _require(version, NEW_ATTACH)
    return {"attachment": detail(await _get(session, ctx, attachment_id))}


@router.put("/attachments/{attachment_id}")
async def update_attachment(
    attachment_id: str,
    ctx: WriterCtx,
    session: SessionDep,
    state: StateDep,
    version: VolumeVersion,
    body: Any = Body(None),
) -> dict[str, Any]:
    _require(version, NEW_ATTACH)
    data = body.get("attachment") if isinstance(body, dict) else None
    if not isinstance(data, dict) or not isinstance(data.get("connector"), dict):
        raise APIError(400, "Must specify 'connector' to update attachment.")
    att = await _get(session, ctx, attachment_id)
    volume = await _volume(session, att)
    try:
        await flow.connect(session, state.settings, att, volume, data["connector"])
    except flow.AttachError as exc:
        await session.rollback()
        raise _refused(exc) from None
    await session.commit()
    return {"attachment": detail(att)}


@router.post("/attachments/{attachment_id}/action")
async def attachment_action(
    attachment_id: str,
    ctx: WriterCtx,
    session: SessionDep,
    version: VolumeVersion,
    body: Any = Body(None),
) -> Response:
    _require(version, ATTACH_COMPLETION)
    if not isinstance(body, dict) or list(body) != ["os-complete"]:
        raise APIError(400, "Invalid request body: the only action is os-complete.")
    att = await _get(session, ctx, attachment_id)
    volume = await _volume(session, att)
    try:
        await flow.complete(session, att, volume)
    except flow.AttachError as exc:
        await session.rollback()
        raise _refused(exc) from None
    await session.commit()
    return Response(status_code=204)


@router.delete("/attachments/{attachment_id}")
async def delete_attachment(
    attachment_id: str, ctx: WriterCtx, session: SessionDep, version: VolumeVersion
) -> dict[str, Any]:
    _require(version, NEW_ATTACH)
    att = await _get(session, ctx, attachment_id)
    if att.instance_uuid and att.lease_owner:
        # The conductor is attaching or detaching it on a host right now.
        raise APIError(
            409, f"Volume attachment {attachment_id} is being changed by the compute service."
        )
    volume = await _volume(session, att)
    await flow.remove(session, att, volume)
    await session.commit()
    return {"attachments": []}
