"""The volume actions older clients attach with (Cinder's pre-3.27 flow, still served at
every version): ``os-reserve``, ``os-unreserve``, ``os-initialize_connection``,
``os-attach``, ``os-begin_detaching``, ``os-roll_detaching``, ``os-detach``,
``os-terminate_connection``. They move the same rows as the attachments API."""

from __future__ import annotations

from typing import Any

from fastapi import Response
from fastapi.responses import JSONResponse
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.api.errors import APIError
from stockyard.db.base import delete_once, utcnow
from stockyard.db.models import Volume, VolumeAttachment
from stockyard.settings import Settings
from stockyard.volume import attachments as flow
from stockyard.volume.states import VolumeStatus

V = VolumeStatus
NAMES = frozenset(
    {
        "os-reserve",
        "os-unreserve",
        "os-initialize_connection",
        "os-attach",
        "os-begin_detaching",
        "os-roll_detaching",
        "os-detach",
        "os-terminate_connection",
    }
)


def _args(args: Any) -> dict[str, Any]:
    return dict(args) if isinstance(args, dict) else {}


async def _pending(s: AsyncSession, volume: Volume) -> VolumeAttachment | None:
    """The attachment an os-reserve made and os-attach completes."""
    return (
        await s.scalars(
            select(VolumeAttachment).where(
                VolumeAttachment.volume_id == volume.id,
                VolumeAttachment.attach_status.in_(("reserved", "attaching")),
            )
        )
    ).first()


async def run(
    name: str, args: Any, volume: Volume, s: AsyncSession, settings: Settings
) -> Response:
    """Run one attach/detach action on ``volume`` (the caller checked access)."""
    try:
        response = await _run(name, _args(args), volume, s, settings)
    except flow.AttachError as exc:
        await s.rollback()
        raise APIError(exc.code, exc.message) from None
    await s.commit()
    return response


async def _run(
    name: str, args: dict[str, Any], volume: Volume, s: AsyncSession, settings: Settings
) -> Response:
    accepted = Response(status_code=202)
    if name == "os-reserve":
        await flow.mark_attaching(s, await flow.reserve(s, volume, None), volume)
        return accepted
    if name == "os-unreserve":
        pending = await _pending(s, volume)
        if pending is not None and pending.connection_info is None:
            await flow.remove(s, pending, volume)
        return accepted
    if name == "os-initialize_connection":
        connector = args.get("connector")
        if not isinstance(connector, dict) or not connector:
            raise APIError(400, "Must specify 'connector'")
        info = await flow.connection_info(settings, volume, flow.parse_connector(connector))
        return JSONResponse({"connection_info": info})
    if name == "os-terminate_connection":
        if not isinstance(args.get("connector"), dict):
            raise APIError(400, "Must specify 'connector'")
        return accepted
    if name == "os-attach":
        return await _attach(args, volume, s)
    if name == "os-begin_detaching":
        await flow.begin_detach(s, volume)
        return accepted
    if name == "os-roll_detaching":
        await flow.roll_detach(s, volume)
        return accepted
    # os-detach
    attachments = [a for a in volume.attachments if a.attach_status != "reserved"]
    wanted = args.get("attachment_id")
    if wanted:
        attachments = [a for a in attachments if a.id == wanted]
        if not attachments:
            raise APIError(
                400,
                f"Invalid volume: Volume {volume.id} has no attachment {wanted}.",
            )
    if not attachments:
        # Cinder's "volume was already detached, no need to do anything".
        return accepted
    for att in attachments:
        row = await s.get(VolumeAttachment, att.id)
        if row is not None:
            await flow.remove(s, row, volume)
    return accepted


async def _attach(args: dict[str, Any], volume: Volume, s: AsyncSession) -> Response:
    instance_uuid = args.get("instance_uuid")
    host_name = args.get("host_name")
    mountpoint = args.get("mountpoint")
    mode = args.get("mode", "rw")
    if instance_uuid is None and host_name is None:
        raise APIError(400, "Invalid request to attach volume to an invalid target")
    if not isinstance(mountpoint, str) or not mountpoint:
        raise APIError(400, "Must specify 'mountpoint'")
    if mode not in ("rw", "ro"):
        raise APIError(400, "Invalid request to attach volume with an invalid mode. "
                            "Attaching mode should be 'rw' or 'ro'")  # fmt: skip
    if volume.readonly and mode == "rw":
        raise APIError(400, f"Invalid volume: Volume {volume.id} is read-only; attach it 'ro'.")
    pending = await _pending(s, volume)
    if pending is None:
        if volume.status != V.ATTACHING:
            # Cinder's attach expects a reserve first (status attaching).
            pending = await flow.reserve(s, volume, instance_uuid)
        else:
            pending = VolumeAttachment(
                volume_id=volume.id, project_id=volume.project_id, attach_status="attaching"
            )
            s.add(pending)
    pending.instance_uuid = instance_uuid
    pending.attached_host = host_name
    pending.mountpoint = mountpoint
    pending.attach_mode = mode
    pending.updated_at = utcnow()
    await flow.complete(s, pending, volume)
    return Response(status_code=202)


async def force_detach(args: Any, volume: Volume, s: AsyncSession) -> None:
    """Admin's os-force_detach: drop the attachment (``attachment_id``, else all) whatever
    the volume's status; with none left the volume is ``available`` and detached, as
    Cinder's detach leaves it. The connector is not needed: no export is torn down here
    beyond the attachment row."""
    wanted = _args(args).get("attachment_id")
    rows = list(
        await s.scalars(select(VolumeAttachment).where(VolumeAttachment.volume_id == volume.id))
    )
    missing = f"Volume attachment {wanted} could not be found."
    if wanted:
        rows = [row for row in rows if row.id == wanted]
        if not rows:
            raise APIError(404, missing)
    for row in rows:
        # One a concurrent detach took since: gone already, as asked; the one named is 404.
        if not await delete_once(s, row) and wanted:
            raise APIError(404, missing)
    await s.flush()
    left = await s.scalar(
        select(func.count())
        .select_from(VolumeAttachment)
        .where(VolumeAttachment.volume_id == volume.id)
    )
    if not left:
        volume.status = VolumeStatus.AVAILABLE
        volume.attach_status = "detached"
    volume.updated_at = utcnow()
    await s.commit()
