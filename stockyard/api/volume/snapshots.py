"""Volume snapshots: create (``force`` for in-use volumes), list/detail, show, update,
delete."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Request, Response
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.api.deps import ProjectCtx, SessionDep, StateDep, WriterCtx
from stockyard.api.errors import APIError
from stockyard.api.microversion import APIVersion
from stockyard.api.volume.common import (
    VolumeVersion,
    apply_sort,
    body_of,
    check_metadata,
    get_snapshot,
    get_volume,
    hint,
    next_link,
    page,
    parse_bool,
    parse_limit,
    parse_metadata_filter,
    parse_offset,
    scope,
    sort_keys,
    text_field,
)
from stockyard.api.volume.views import snapshot_view
from stockyard.db.base import utcnow
from stockyard.db.models import Volume, VolumeSnapshot, VolumeType
from stockyard.identity.context import RequestContext
from stockyard.volume import quota
from stockyard.volume.states import (
    SNAPSHOT_ACTIONS,
    SNAPSHOT_RESET,
    VOLUME_ACTIONS,
    SnapshotStatus,
    VolumeStatus,
    may,
)

router = APIRouter()
SORT_KEYS = {"id", "name", "status", "size", "created_at", "updated_at", "volume_id"}


@router.post("/snapshots", status_code=202)
async def create_snapshot(
    ctx: WriterCtx, session: SessionDep, state: StateDep, request: Request, body: Any = Body(None)
) -> dict[str, Any]:
    data = body_of(body, "snapshot")
    volume_id = data.get("volume_id")
    if volume_id is None and "volume_id" in data:
        # Cinder's schema lets a null volume_id through to the volume look-up.
        raise APIError(404, "Volume None could not be found.")
    if not isinstance(volume_id, str) or not volume_id:
        raise APIError(
            400, "Invalid input for field/attribute volume_id: 'volume_id' is a required property"
        )
    force = parse_bool(data.get("force", False), "force")
    name = text_field(data, "name", "display_name")
    description = text_field(data, "description", "display_description")
    metadata = check_metadata(data.get("metadata") or {})
    volume = await get_volume(session, ctx, volume_id)
    if volume.status == VolumeStatus.IN_USE and not force:
        raise APIError(
            400,
            f"Invalid volume: Volume {volume.id} status must be available, "
            f"but current status is: {volume.status}.",
        )
    action = VOLUME_ACTIONS["snapshot_force" if force else "snapshot"]
    if not may(action, volume.status):
        allowed = " or ".join(action.sources)
        raise APIError(
            400,
            f"Invalid volume: Volume {volume.id} status must be {allowed}, "
            f"but current status is: {volume.status}.",
        )
    vtype = await session.get(VolumeType, volume.volume_type_id)
    assert ctx.project_id is not None
    try:
        await quota.check(
            session,
            state.settings,
            volume.project_id,
            vtype.name if vtype else "",
            quota.Delta(snapshots=1, gigabytes=volume.size),
        )
    except quota.QuotaExceeded as exc:
        raise APIError(413, str(exc)) from None
    snap = VolumeSnapshot(
        project_id=volume.project_id,
        user_id=ctx.user_id,
        volume_id=volume.id,
        volume_type_id=volume.volume_type_id,
        name=name,
        description=description,
        size=volume.size,
        status=SnapshotStatus.CREATING,
        metadata_=metadata,
        task_started_at=utcnow(),
    )
    session.add(snap)
    await session.commit()
    await hint(state, "snapshot", snap.id, request)
    # Cinder's extensions decorate show and detail only, not create and update.
    return {"snapshot": snapshot_view(snap, extended=False)}


async def _list(
    ctx: RequestContext, session: AsyncSession, request: Request, version: APIVersion
) -> tuple[list[VolumeSnapshot], int, bool]:
    params = request.query_params
    all_tenants = parse_bool(params.get("all_tenants", "false"), "all_tenants")
    stmt = scope(select(VolumeSnapshot), VolumeSnapshot, ctx, all_tenants)
    if ctx.is_admin and all_tenants and params.get("project_id"):
        stmt = stmt.where(VolumeSnapshot.project_id == params["project_id"])
    for key in ("name", "status", "volume_id"):
        if (value := params.get(key)) is not None:
            stmt = stmt.where(getattr(VolumeSnapshot, key) == value)
    stmt = apply_sort(stmt, VolumeSnapshot, sort_keys(request, SORT_KEYS))
    rows = list(await session.scalars(stmt))
    if version >= APIVersion(3, 22) and (raw := params.get("metadata")) is not None:
        wanted = parse_metadata_filter(raw)
        rows = [r for r in rows if all((r.metadata_ or {}).get(k) == v for k, v in wanted.items())]
    limit = parse_limit(request)
    offset = parse_offset(request)
    return page(rows, params.get("marker"), limit, offset), limit, "limit" in params


@router.get("/snapshots")
async def list_snapshots(
    ctx: ProjectCtx, session: SessionDep, request: Request, version: VolumeVersion
) -> dict[str, Any]:
    rows, limit, limited = await _list(ctx, session, request, version)
    body: dict[str, Any] = {
        "snapshots": [snapshot_view(s, extended=False, version=version) for s in rows]
    }
    if links := next_link(request, rows, limit, limited):
        body["snapshots_links"] = links
    return body


@router.get("/snapshots/detail")
async def list_snapshots_detail(
    ctx: ProjectCtx, session: SessionDep, request: Request, version: VolumeVersion
) -> dict[str, Any]:
    rows, limit, limited = await _list(ctx, session, request, version)
    body: dict[str, Any] = {
        "snapshots": [snapshot_view(s, extended=True, version=version) for s in rows]
    }
    if links := next_link(request, rows, limit, limited):
        body["snapshots_links"] = links
    return body


@router.get("/snapshots/{snapshot_id}")
async def show_snapshot(
    snapshot_id: str, ctx: ProjectCtx, session: SessionDep, version: VolumeVersion
) -> dict[str, Any]:
    snap = await get_snapshot(session, ctx, snapshot_id)
    return {"snapshot": snapshot_view(snap, extended=True, version=version)}


@router.put("/snapshots/{snapshot_id}")
async def update_snapshot(
    snapshot_id: str, ctx: WriterCtx, session: SessionDep, body: Any = Body(None)
) -> dict[str, Any]:
    data = body_of(body, "snapshot")
    if not data:
        raise APIError(400, "Invalid input: name, description or metadata must be given.")
    snap = await get_snapshot(session, ctx, snapshot_id)
    if "name" in data or "display_name" in data:
        snap.name = text_field(data, "name", "display_name")
    if "description" in data or "display_description" in data:
        snap.description = text_field(data, "description", "display_description")
    if "metadata" in data:
        snap.metadata_ = check_metadata(data["metadata"] or {})
    snap.updated_at = utcnow()
    await session.commit()
    return {"snapshot": snapshot_view(snap, extended=False)}


@router.delete("/snapshots/{snapshot_id}", status_code=202, response_class=Response)
async def delete_snapshot(
    snapshot_id: str, ctx: WriterCtx, session: SessionDep, state: StateDep, request: Request
) -> None:
    snap = await get_snapshot(session, ctx, snapshot_id)
    if not may(SNAPSHOT_ACTIONS["delete"], snap.status):
        raise APIError(
            400,
            "Invalid snapshot: Volume Snapshot status must be available or "
            "error and must not be part of a group.",
        )
    making = await session.scalar(
        select(func.count())
        .select_from(Volume)
        .where(Volume.snapshot_id == snap.id, Volume.status == VolumeStatus.CREATING)
    )
    if making:
        raise APIError(400, "Invalid snapshot: a volume is being created from it.")
    snap.status = SnapshotStatus.DELETING
    snap.task_started_at = utcnow()
    snap.status_reason = None
    snap.updated_at = utcnow()
    await session.commit()
    await hint(state, "snapshot", snap.id, request)


@router.post("/snapshots/{snapshot_id}/action", status_code=202, response_class=Response)
async def snapshot_action(
    snapshot_id: str,
    ctx: WriterCtx,
    session: SessionDep,
    state: StateDep,
    request: Request,
    body: Any = Body(None),
) -> None:
    """Admin actions: os-reset_status and os-force_delete; the owner's
    os-update_snapshot_status (what Nova's assisted snapshots report with)."""
    if not isinstance(body, dict) or len(body) != 1:
        raise APIError(400, "Invalid request body: exactly one action is expected.")
    ((name, args),) = body.items()
    snap = await get_snapshot(session, ctx, snapshot_id)
    if name == "os-update_snapshot_status":
        await _update_status(snap, args, session)
        return
    if name not in ("os-reset_status", "os-force_delete"):
        raise APIError(400, f"There is no such action: {name}")
    if not ctx.is_admin:
        raise APIError(403, f"Policy doesn't allow volume_extension:snapshot_admin_actions:"
                       f"{name.removeprefix('os-')} to be performed.")  # fmt: skip
    if name == "os-reset_status":
        status = args.get("status") if isinstance(args, dict) else None
        if not isinstance(status, str) or status not in SNAPSHOT_RESET:
            raise APIError(400, "Must specify a valid status")
        snap.status = status
    else:
        snap.status = SnapshotStatus.DELETING
        snap.status_reason = None
    # An admin takes the row back from whatever worker held it.
    snap.lease_owner = None
    snap.lease_expires = None
    snap.task_started_at = utcnow()
    snap.updated_at = utcnow()
    await session.commit()
    if snap.status == SnapshotStatus.DELETING:
        await hint(state, "snapshot", snap.id, request)


# Cinder's update_snapshot_status: the statuses each current status may move to.
_UPDATE_STATUS = {
    SnapshotStatus.CREATING: ("creating", "available", "error"),
    SnapshotStatus.DELETING: ("deleting", "error_deleting"),
}


async def _update_status(snap: VolumeSnapshot, args: Any, session: AsyncSession) -> None:
    status = args.get("status") if isinstance(args, dict) else None
    allowed = (
        _UPDATE_STATUS.get(SnapshotStatus(snap.status)) if snap.status in _UPDATE_STATUS else None
    )
    if allowed is None:
        raise APIError(
            400,
            f"Invalid snapshot: Snapshot status {snap.status} not allowed for "
            "update_snapshot_status",
        )
    if status not in allowed:
        raise APIError(
            400,
            f"Invalid snapshot: Provided snapshot status {status} not allowed for "
            f"snapshot with status {snap.status}.",
        )
    snap.status = str(status)
    progress = args.get("progress")
    if progress is not None:
        if not isinstance(progress, str) or len(progress) > 16:
            raise APIError(400, "Invalid input for field/attribute progress.")
        snap.progress = progress
    snap.updated_at = utcnow()
    await session.commit()
