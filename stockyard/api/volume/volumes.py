"""Volumes: create (empty, from a snapshot, from a volume), list/detail with filters and
paging, show, update and delete with Cinder's preconditions and ``cascade``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Request, Response
from sqlalchemy import false, func, or_, select
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
    strict_int,
    text_field,
)
from stockyard.api.volume.images import image_metadata_of, image_min_gb, image_source
from stockyard.api.volume.types import default_type, find_type
from stockyard.api.volume.views import volume_detail, volume_metadata, volume_summary
from stockyard.db.base import utcnow
from stockyard.db.models import Image, Volume, VolumeSnapshot, VolumeType
from stockyard.identity.context import RequestContext
from stockyard.volume import quota
from stockyard.volume.states import VOLUME_ACTIONS, SnapshotStatus, VolumeStatus, may

router = APIRouter()
LIKE_FILTER = APIVersion(3, 34)
SORT_KEYS = {"id", "name", "status", "size", "created_at", "updated_at", "availability_zone"}
_DELETE_SOURCES = " or ".join(VOLUME_ACTIONS["delete"].sources)
DELETE_REFUSED = (
    f"Invalid volume: Volume status must be {_DELETE_SOURCES} and must not be migrating, "
    "attached, belong to a group, have snapshots, awaiting a transfer, or be disassociated "
    "from snapshots after volume transfer."
)


async def type_names(session: AsyncSession) -> dict[str, str]:
    return dict((await session.execute(select(VolumeType.id, VolumeType.name))).all())


def _size(value: Any) -> int:
    size = strict_int(value)
    if size is None or size <= 0:
        raise APIError(
            400,
            f"Invalid input received: Volume size '{value}' must be an integer and greater than 0",
        )
    return size


@router.post("/volumes", status_code=202)
async def create_volume(
    ctx: WriterCtx,
    session: SessionDep,
    state: StateDep,
    request: Request,
    version: VolumeVersion,
    body: Any = Body(None),
) -> dict[str, Any]:
    data = body_of(body, "volume")
    settings = state.settings
    name = text_field(data, "name", "display_name")
    description = text_field(data, "description", "display_description")
    image = await image_source(session, ctx, data.get("imageRef"))
    if data.get("backup_id"):
        raise APIError(400, "Invalid input received: backups are not supported by this cloud.")
    snap = source = None
    vtype: VolumeType | None = None
    if snapshot_id := data.get("snapshot_id"):
        snap = await get_snapshot(session, ctx, str(snapshot_id))
        if snap.status != SnapshotStatus.AVAILABLE:
            raise APIError(
                400,
                f"Invalid snapshot: Originating snapshot status must be one of "
                f"'available' values, but it is {snap.status}.",
            )
        vtype = await session.get(VolumeType, snap.volume_type_id)
    elif source_volid := data.get("source_volid"):
        source = await get_volume(session, ctx, str(source_volid))
        if source.status not in (VolumeStatus.AVAILABLE, VolumeStatus.IN_USE):
            raise APIError(
                400, f"Invalid volume: Unable to clone volumes that are in {source.status} state."
            )
        vtype = await session.get(VolumeType, source.volume_type_id)
    origin_size = snap.size if snap else source.size if source else None
    if image is not None and origin_size is None:
        origin_size = image_min_gb(image)
    raw_size = data.get("size")
    size = _size(raw_size) if raw_size is not None or origin_size is None else origin_size
    if snap is not None and size < snap.size:
        raise APIError(
            400,
            f"Invalid input received: Volume size '{size}'GB cannot be smaller "
            f"than the snapshot size {snap.size}GB. They must be >= original "
            "snapshot size.",
        )
    if image is not None and size < image_min_gb(image):
        raise APIError(
            400,
            f"Invalid input received: Image {image.id} requires {image_min_gb(image)}GB; "
            f"a volume of {size}GB cannot hold it.",
        )
    if source is not None and size < source.size:
        raise APIError(
            400,
            f"Invalid input received: Volume size '{size}'GB cannot be smaller "
            f"than original volume size {source.size}GB. They must be >= original "
            "volume size.",
        )
    if data.get("volume_type"):
        vtype = await find_type(session, ctx, str(data["volume_type"]))
    if vtype is None:
        vtype = await default_type(session)
    zone = data.get("availability_zone") or settings.volume_availability_zone
    if zone != settings.volume_availability_zone:
        raise APIError(400, f"Availability zone '{zone}' is invalid.")
    metadata = check_metadata(data.get("metadata") or {})
    assert ctx.project_id is not None
    try:
        await quota.check(
            session,
            settings,
            ctx.project_id,
            vtype.name,
            quota.Delta(volumes=1, gigabytes=size),
            volume_size=size,
        )
    except quota.QuotaExceeded as exc:
        raise APIError(413, str(exc)) from None
    multiattach = str((vtype.extra_specs or {}).get("multiattach", "")).lower() == "<is> true"
    volume = Volume(
        project_id=ctx.project_id,
        user_id=ctx.user_id,
        name=name,
        description=description,
        size=size,
        status=VolumeStatus.CREATING,
        volume_type_id=vtype.id,
        availability_zone=zone,
        metadata_=metadata,
        snapshot_id=snap.id if snap else None,
        source_volid=source.id if source else None,
        image_id=image.id if image else None,
        image_metadata=await _image_metadata(session, image, snap, source),
        bootable=bool(source and source.bootable) or image is not None,
        multiattach=multiattach,
        task_started_at=utcnow(),
    )
    session.add(volume)
    await session.commit()
    await hint(state, "volume", volume.id, request)
    base = settings.base_url
    return {"volume": volume_detail(volume, vtype.name, ctx, base, extended=False, version=version)}


async def _list(
    ctx: RequestContext, session: AsyncSession, request: Request, version: APIVersion
) -> tuple[list[Volume], int, bool]:
    params = request.query_params
    all_tenants = parse_bool(params.get("all_tenants", "false"), "all_tenants")
    stmt = scope(select(Volume), Volume, ctx, all_tenants)
    if ctx.is_admin and all_tenants and params.get("project_id"):
        stmt = stmt.where(Volume.project_id == params["project_id"])
    for key in ("name", "status", "availability_zone"):
        if (value := params.get(key)) is not None:
            stmt = stmt.where(getattr(Volume, key) == value)
        if version >= LIKE_FILTER and (value := params.get(f"{key}~")) is not None:
            stmt = stmt.where(getattr(Volume, key).contains(value, autoescape=True))
    # No volume here belongs to a group (3.10): that filter matches nothing rather than
    # being ignored.
    if version >= APIVersion(3, 10) and params.get("group_id"):
        stmt = stmt.where(false())
    if (bootable := params.get("bootable")) is not None:
        stmt = stmt.where(Volume.bootable.is_(parse_bool(bootable, "bootable")))
    rows = list(await session.scalars(apply_sort(stmt, Volume, sort_keys(request, SORT_KEYS))))
    if (raw := params.get("metadata")) is not None:
        wanted = parse_metadata_filter(raw)
        rows = [v for v in rows if all(volume_metadata(v).get(k) == x for k, x in wanted.items())]
    if version >= APIVersion(3, 4) and (raw := params.get("glance_metadata")) is not None:
        image = parse_metadata_filter(raw)
        rows = [v for v in rows if _has_image_metadata(v, image)]
    limit = parse_limit(request)
    offset = parse_offset(request)
    return page(rows, params.get("marker"), limit, offset), limit, "limit" in params


@router.get("/volumes")
async def list_volumes(
    ctx: ProjectCtx, session: SessionDep, state: StateDep, request: Request, version: VolumeVersion
) -> dict[str, Any]:
    rows, limit, limited = await _list(ctx, session, request, version)
    body: dict[str, Any] = {"volumes": [volume_summary(v, state.settings.base_url) for v in rows]}
    if links := next_link(request, rows, limit, limited):
        body["volumes_links"] = links
    return body


@router.get("/volumes/detail")
async def list_volumes_detail(
    ctx: ProjectCtx, session: SessionDep, state: StateDep, request: Request, version: VolumeVersion
) -> dict[str, Any]:
    rows, limit, limited = await _list(ctx, session, request, version)
    names = await type_names(session)
    base = state.settings.base_url
    body: dict[str, Any] = {
        "volumes": [
            volume_detail(v, names.get(v.volume_type_id), ctx, base, version=version) for v in rows
        ]
    }
    if links := next_link(request, rows, limit, limited):
        body["volumes_links"] = links
    return body


@router.get("/volumes/summary")
async def volumes_summary(
    ctx: ProjectCtx, session: SessionDep, request: Request, version: VolumeVersion
) -> dict[str, Any]:
    """3.12: count and total size of the volumes the caller sees (3.36: their metadata)."""
    if version < APIVersion(3, 12):
        raise APIError(404, "Volume summary could not be found.")
    all_tenants = parse_bool(request.query_params.get("all_tenants", "false"), "all_tenants")
    rows = list(await session.scalars(scope(select(Volume), Volume, ctx, all_tenants)))
    body: dict[str, Any] = {"total_size": sum(v.size for v in rows), "total_count": len(rows)}
    if version >= APIVersion(3, 36):
        metadata: dict[str, list[str]] = {}
        for v in rows:
            for key, value in (v.metadata_ or {}).items():
                if str(value) not in metadata.setdefault(str(key), []):
                    metadata[str(key)].append(str(value))
        body["metadata"] = metadata
    return {"volume-summary": body}


@router.get("/volumes/{volume_id}")
async def show_volume(
    volume_id: str, ctx: ProjectCtx, session: SessionDep, state: StateDep, version: VolumeVersion
) -> dict[str, Any]:
    volume = await get_volume(session, ctx, volume_id)
    vtype = await session.get(VolumeType, volume.volume_type_id)
    name = vtype.name if vtype else None
    return {"volume": volume_detail(volume, name, ctx, state.settings.base_url, version=version)}


@router.put("/volumes/{volume_id}")
async def update_volume(
    volume_id: str,
    ctx: WriterCtx,
    session: SessionDep,
    state: StateDep,
    version: VolumeVersion,
    body: Any = Body(None),
) -> dict[str, Any]:
    data = body_of(body, "volume")
    volume = await get_volume(session, ctx, volume_id)
    if "name" in data or "display_name" in data:
        volume.name = text_field(data, "name", "display_name")
    if "description" in data or "display_description" in data:
        volume.description = text_field(data, "description", "display_description")
    if "metadata" in data:
        volume.metadata_ = check_metadata(data["metadata"] or {})
    volume.updated_at = utcnow()
    await session.commit()
    vtype = await session.get(VolumeType, volume.volume_type_id)
    name = vtype.name if vtype else None
    base = state.settings.base_url
    return {"volume": volume_detail(volume, name, ctx, base, extended=False, version=version)}


@router.api_route("/volumes/", methods=["GET", "PUT", "DELETE"], include_in_schema=False)
async def no_volume_id() -> None:
    """An empty volume id is an unknown volume, as in Cinder (not a redirect to the
    list, which a trailing slash would otherwise get)."""
    raise APIError(404, "Volume  could not be found.")


@router.delete("/volumes/{volume_id}", status_code=202, response_class=Response)
async def delete_volume(
    volume_id: str,
    ctx: WriterCtx,
    session: SessionDep,
    state: StateDep,
    request: Request,
    version: VolumeVersion,
) -> None:
    cascade = parse_bool(request.query_params.get("cascade", "false"), "cascade")
    force = False
    if version >= APIVersion(3, 23) and "force" in request.query_params:
        force = parse_bool(request.query_params["force"], "force")
        if force and not ctx.is_admin:
            raise APIError(403, "Policy doesn't allow volume:force_delete to be performed.")
    volume = await get_volume(session, ctx, volume_id)
    await start_delete(session, volume, cascade=cascade, force=force)
    await hint(state, "volume", volume.id, request)


async def start_delete(
    session: AsyncSession, volume: Volume, *, cascade: bool, force: bool
) -> None:
    """Move ``volume`` (and with ``cascade`` its snapshots) to deleting, or refuse as
    Cinder does. ``force`` (admin's os-force_delete) skips the status check and takes the
    row from any worker; attached volumes and snapshots still refuse."""
    if volume.attach_status != "detached" or not (
        force or may(VOLUME_ACTIONS["delete"], volume.status)
    ):
        raise APIError(400, DELETE_REFUSED)
    snaps = list(
        await session.scalars(select(VolumeSnapshot).where(VolumeSnapshot.volume_id == volume.id))
    )
    if snaps and not cascade:
        raise APIError(400, DELETE_REFUSED)
    if busy := [s.id for s in snaps if s.status not in (SnapshotStatus.AVAILABLE, "error")]:
        raise APIError(
            400,
            f"Invalid volume: Snapshot {busy[0]} must not be part of a group "
            "and must be available or error to be deleted in a cascade.",
        )
    # A volume being copied from this one, or from its snapshots, still reads them.
    copies = await session.scalar(
        select(func.count())
        .select_from(Volume)
        .where(
            Volume.status == VolumeStatus.CREATING,
            or_(
                Volume.source_volid == volume.id,
                Volume.snapshot_id.in_([s.id for s in snaps]),
            ),
        )
    )
    if copies:
        raise APIError(400, "Invalid volume: a volume is being created from it.")
    now = utcnow()
    for snap in snaps:
        snap.status = SnapshotStatus.DELETING
        snap.updated_at = now
    volume.status = VolumeStatus.DELETING
    volume.cascade = bool(snaps)
    volume.task_started_at = now
    volume.status_reason = None
    volume.updated_at = now
    if force:
        volume.lease_owner = None
        volume.lease_expires = None
    await session.commit()


async def _image_metadata(
    session: AsyncSession,
    image: Image | None,
    snap: VolumeSnapshot | None,
    source: Volume | None,
) -> dict[str, str] | None:
    """A new volume's image metadata: its image's, else its source volume's (through
    the snapshot), as Cinder copies volume glance metadata along."""
    if image is not None:
        return image_metadata_of(image)
    if snap is not None:
        source = await session.get(Volume, snap.volume_id)
    if source is not None and source.image_metadata:
        return dict(source.image_metadata)
    return None


def _has_image_metadata(volume: Volume, wanted: dict[str, str]) -> bool:
    held = volume.image_metadata or {}
    return all(held.get(k) == x for k, x in wanted.items())
