"""``POST /volumes/{id}/action``: os-extend, os-reset_status, os-force_delete and
os-force_detach (admin), os-retype (same backend), os-set_bootable,
os-update_readonly_flag; the attach/detach actions are in :mod:`attach_actions`, the
image metadata ones in :mod:`image_meta_actions`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Request, Response
from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.api.deps import SessionDep, StateDep, WriterCtx
from stockyard.api.errors import APIError
from stockyard.api.state import APIState
from stockyard.api.volume import attach_actions, image_meta_actions
from stockyard.api.volume.common import get_volume, hint, parse_bool, strict_int
from stockyard.api.volume.volumes import start_delete
from stockyard.db.base import utcnow
from stockyard.db.models import Volume, VolumeSnapshot, VolumeType
from stockyard.identity.context import RequestContext
from stockyard.volume import quota
from stockyard.volume.states import ATTACH_STATUSES, VOLUME_ACTIONS, VOLUME_RESET, may
from stockyard.volume.worker import BACKEND_SPEC

router = APIRouter()


@router.post("/volumes/{volume_id}/action")
async def volume_action(
    volume_id: str,
    ctx: WriterCtx,
    session: SessionDep,
    state: StateDep,
    request: Request,
    body: Any = Body(None),
) -> Response:
    if not isinstance(body, dict) or len(body) != 1:
        raise APIError(400, "Invalid request body: exactly one action is expected.")
    ((name, args),) = body.items()
    volume = await get_volume(session, ctx, volume_id)
    if name in attach_actions.NAMES:
        return await attach_actions.run(name, args, volume, session, state.settings)
    if name in image_meta_actions.NAMES:
        return await image_meta_actions.run(name, args, volume, session)
    if name == "os-extend":
        await _extend(volume, args, ctx, session, state, request)
        return Response(status_code=202)
    if name == "os-reset_status":
        await _reset_status(volume, args, ctx, session)
        return Response(status_code=202)
    if name == "os-force_delete":
        if not ctx.is_admin:
            raise APIError(403, "Policy doesn't allow volume_extension:volume_admin_actions:"
                           "force_delete to be performed.")  # fmt: skip
        await start_delete(session, volume, cascade=False, force=True)
        await hint(state, "volume", volume.id, request)
        return Response(status_code=202)
    if name == "os-force_detach":
        if not ctx.is_admin:
            raise APIError(403, "Policy doesn't allow volume_extension:volume_admin_actions:"
                           "force_detach to be performed.")  # fmt: skip
        await attach_actions.force_detach(args, volume, session)
        return Response(status_code=202)
    if name == "os-retype":
        await _retype(volume, args, session, state.settings.volume_default_backend)
        return Response(status_code=202)
    if name == "os-set_bootable":
        if not isinstance(args, dict) or "bootable" not in args:
            raise APIError(400, "Must specify bootable in request.")
        volume.bootable = parse_bool(args["bootable"], "bootable")
        volume.updated_at = utcnow()
        await session.commit()
        return Response(status_code=200)
    if name == "os-update_readonly_flag":
        if not isinstance(args, dict) or "readonly" not in args:
            raise APIError(400, "Must specify readonly in request.")
        readonly = parse_bool(args["readonly"], "readonly")
        if volume.status != "available":
            raise APIError(
                400, "Invalid volume: Volume status must be available to update readonly flag."
            )
        volume.readonly = readonly
        volume.updated_at = utcnow()
        await session.commit()
        return Response(status_code=202)
    raise APIError(400, f"There is no such action: {name}")


async def _retype(volume: Volume, args: Any, session: AsyncSession, default_backend: str) -> None:
    """os-retype without migration: a type of the volume's own backend is a new label
    (Cinder's retype that the driver does in place); another backend would need a
    migration, which this cloud does not do."""
    new_type = args.get("new_type") if isinstance(args, dict) else None
    if not isinstance(new_type, str) or not new_type:
        raise APIError(400, "New volume type must be specified.")
    vtype = await session.scalar(
        select(VolumeType).where(or_(VolumeType.id == new_type, VolumeType.name == new_type))
    )
    if vtype is None:
        raise APIError(404, f"Volume type {new_type} could not be found.")
    if volume.status not in ("available", "in-use"):
        raise APIError(
            400,
            f"Invalid volume: Volume {volume.id} status must be available or in-use, "
            f"but current status is: {volume.status}.",
        )
    if vtype.id == volume.volume_type_id:
        raise APIError(400, "Invalid volume type: New volume type must be different.")
    backend = (vtype.extra_specs or {}).get(BACKEND_SPEC) or default_backend
    if volume.backend is not None and backend != volume.backend:
        raise APIError(
            400,
            f"Invalid volume: type {vtype.name} is served by backend {backend}, the volume "
            f"is on {volume.backend}; migration between backends is not available.",
        )
    volume.volume_type_id = vtype.id
    volume.updated_at = utcnow()
    await session.commit()


async def _extend(
    volume: Volume,
    args: Any,
    ctx: RequestContext,
    session: AsyncSession,
    state: APIState,
    request: Request,
) -> None:
    raw = args.get("new_size") if isinstance(args, dict) else None
    new_size = strict_int(raw)
    if new_size is None:
        raise APIError(400, f"Invalid input for field/attribute new_size. Value: {raw}.")
    if not may(VOLUME_ACTIONS["extend"], volume.status):
        raise APIError(
            400,
            f"Invalid volume: Volume {volume.id} status must be available to "
            f"extend, but current status is: {volume.status}.",
        )
    if new_size <= volume.size:
        raise APIError(
            400,
            f"Invalid input received: New size for extend must be greater than "
            f"current size. (current: {volume.size}, extended: {new_size}).",
        )
    # A snapshot or a copy being made reads the volume: growing it meanwhile would give
    # them a torn image.
    readers = await session.scalar(
        select(func.count())
        .select_from(VolumeSnapshot)
        .where(VolumeSnapshot.volume_id == volume.id, VolumeSnapshot.status == "creating")
    )
    readers = (readers or 0) + (
        await session.scalar(
            select(func.count())
            .select_from(Volume)
            .where(Volume.source_volid == volume.id, Volume.status == "creating")
        )
        or 0
    )
    if readers:
        raise APIError(
            400,
            f"Invalid volume: Volume {volume.id} is being copied (a snapshot or a volume is "
            "being made from it); extend it when that is done.",
        )
    vtype = await session.get(VolumeType, volume.volume_type_id)
    try:
        await quota.check(
            session,
            state.settings,
            volume.project_id,
            vtype.name if vtype else "",
            quota.Delta(gigabytes=new_size - volume.size),
            volume_size=new_size,
        )
    except quota.QuotaExceeded as exc:
        raise APIError(413, str(exc)) from None
    volume.status = VOLUME_ACTIONS["extend"].target
    volume.new_size = new_size
    volume.task_started_at = utcnow()
    volume.status_reason = None
    volume.updated_at = utcnow()
    await session.commit()
    await hint(state, "volume", volume.id, request)


async def _reset_status(
    volume: Volume, args: Any, ctx: RequestContext, session: AsyncSession
) -> None:
    if not ctx.is_admin:
        raise APIError(
            403,
            "Policy doesn't allow volume_extension:volume_admin_actions:"
            "reset_status to be performed.",
        )
    if not isinstance(args, dict) or not args:
        raise APIError(
            400, "Must specify 'status', 'attach_status' or 'migration_status' for update."
        )
    status = args.get("status")
    attach_status = args.get("attach_status")
    if status is not None and (not isinstance(status, str) or status not in VOLUME_RESET):
        raise APIError(400, "Must specify a valid status")
    if attach_status is not None and (
        not isinstance(attach_status, str) or attach_status not in ATTACH_STATUSES
    ):
        raise APIError(400, "Must specify a valid attach status")
    if status is not None:
        volume.status = status
        # An admin takes the row back from whatever worker held it.
        volume.lease_owner = None
        volume.lease_expires = None
        volume.task_started_at = utcnow()
        volume.new_size = None if status != "extending" else volume.new_size
    if attach_status is not None:
        volume.attach_status = attach_status
    volume.updated_at = utcnow()
    await session.commit()
