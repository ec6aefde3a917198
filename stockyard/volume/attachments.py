"""Volume attachments: the one place that moves a volume between ``available``,
``reserved``, ``attaching``, ``in-use`` and ``detaching``.

Both Block Storage APIs (the 3.27+ attachments API and the older ``os-reserve`` /
``os-attach`` / ``os-detach`` actions) and Nova's ``os-volume_attachments`` (through the
conductor's volume flow) call these functions, so the statuses cannot drift apart. Every
status change is a conditional UPDATE on the volume row: two attaches racing for one
volume cannot both win (volumes are never multiattach here).

Cinder's sequence: reserve (volume ``reserved``, attachment ``reserved``) -> connect with
the host's connector (both ``attaching``, ``connection_info`` from the backend) ->
complete (attachment ``attached``, volume ``in-use``) ... begin detach (``detaching``) ->
remove (row deleted; volume ``available`` when it was the last attachment).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.db.base import execute_count, utcnow
from stockyard.db.models import Volume, VolumeAttachment
from stockyard.settings import Settings
from stockyard.volume.drivers import build_backends
from stockyard.volume.drivers.base import Connector, VolumeDriverError
from stockyard.volume.states import VolumeStatus
from stockyard.volume.worker import volume_ref

V = VolumeStatus


class AttachError(Exception):
    """An attachment step is refused; ``code`` is the HTTP status Cinder answers."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


async def _move(
    s: AsyncSession, volume: Volume, sources: tuple[str, ...], target: str, **values: Any
) -> bool:
    stmt = (
        update(Volume)
        .where(Volume.id == volume.id, Volume.status.in_(sources))
        .values(status=target, updated_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    )
    if await execute_count(s, stmt) != 1:
        return False
    volume.status = target
    for key, value in values.items():
        setattr(volume, key, value)
    return True


async def reserve(
    s: AsyncSession,
    volume: Volume,
    instance_uuid: str | None,
    *,
    mountpoint: str | None = None,
    tag: str | None = None,
    delete_on_termination: bool = False,
    boot_index: int | None = None,
) -> VolumeAttachment:
    """Hold ``volume`` for ``instance_uuid``: ``available`` -> ``reserved``."""
    if not await _move(s, volume, (V.AVAILABLE,), V.RESERVED):
        raise AttachError(
            400,
            f"Invalid volume: Volume {volume.id} status must be available or downloading "
            f"to reserve, but the current status is {volume.status}.",
        )
    attachment = VolumeAttachment(
        volume_id=volume.id,
        project_id=volume.project_id,
        instance_uuid=instance_uuid,
        mountpoint=mountpoint,
        attach_mode="ro" if volume.readonly else "rw",
        attach_status="reserved",
        tag=tag,
        delete_on_termination=delete_on_termination,
        boot_index=boot_index,
    )
    s.add(attachment)
    await s.flush()
    return attachment


async def mark_attaching(s: AsyncSession, attachment: VolumeAttachment, volume: Volume) -> None:
    """Cinder's old ``os-reserve`` holds the volume as ``attaching`` (not ``reserved``)."""
    await _move(s, volume, (V.RESERVED,), V.ATTACHING)
    attachment.attach_status = "attaching"


def parse_connector(raw: Any) -> Connector:
    """os-brick's connector dict as Nova sends it; ``host`` is required."""
    if not isinstance(raw, dict) or not raw:
        raise AttachError(400, "Must specify 'connector' to update attachment.")
    host = raw.get("host")
    if not isinstance(host, str) or not host:
        raise AttachError(400, "Invalid input received: connector must name its 'host'.")
    extra = {k: v for k, v in raw.items() if k not in ("host", "initiator", "ip")}
    initiator = raw.get("initiator")
    ip = raw.get("ip")
    return Connector(
        host=host,
        initiator=initiator if isinstance(initiator, str) else None,
        ip=ip if isinstance(ip, str) else None,
        extra=extra,
    )


async def connection_info(
    settings: Settings, volume: Volume, connector: Connector
) -> dict[str, Any]:
    """The backend's ``ConnectionInfo.to_dict()`` for ``connector``, with Cinder's
    ``serial``/``volume_id``/``access_mode`` that Nova's volume drivers read."""
    backend = volume.backend or settings.volume_default_backend
    try:
        driver = build_backends(settings).get(backend)
        if driver is None:
            raise VolumeDriverError(f"no volume backend named {backend!r} is served")
        info = (await driver.initialize_connection(volume_ref(volume), connector)).to_dict()
    except VolumeDriverError as exc:
        raise AttachError(
            500, f"Unable to initialize the connection of volume {volume.id}: {exc}"
        ) from exc
    info["data"].setdefault("volume_id", volume.id)
    info["data"]["access_mode"] = "ro" if volume.readonly else "rw"
    info["serial"] = volume.id
    return info


async def connect(
    s: AsyncSession,
    settings: Settings,
    attachment: VolumeAttachment,
    volume: Volume,
    raw_connector: Any,
) -> VolumeAttachment:
    """Give a reserved attachment its host's connection: both ``attaching``."""
    connector = parse_connector(raw_connector)
    if attachment.attach_status not in ("reserved", "attaching"):
        raise AttachError(
            400,
            f"Invalid volume: attachment {attachment.id} is {attachment.attach_status}; "
            "only a reserved attachment can be updated with a connector.",
        )
    if volume.status not in (V.RESERVED, V.ATTACHING):
        raise AttachError(
            400,
            f"Invalid volume: Volume {volume.id} status must be reserved to update its "
            f"attachment, but the current status is {volume.status}.",
        )
    info = await connection_info(settings, volume, connector)
    await _move(s, volume, (V.RESERVED, V.ATTACHING), V.ATTACHING)
    mode = raw_connector.get("mode")
    attachment.connector = dict(raw_connector)
    attachment.connection_info = info
    attachment.attached_host = connector.host
    attachment.mountpoint = raw_connector.get("mountpoint") or attachment.mountpoint
    attachment.attach_mode = mode if mode in ("rw", "ro") else attachment.attach_mode
    attachment.attach_status = "attaching"
    attachment.updated_at = utcnow()
    return attachment


async def complete(s: AsyncSession, attachment: VolumeAttachment, volume: Volume) -> None:
    """The host has attached: attachment ``attached``, volume ``in-use``."""
    if attachment.attach_status == "attached":
        return
    if attachment.attach_status not in ("attaching", "reserved"):
        raise AttachError(
            400,
            f"Invalid volume: attachment {attachment.id} is {attachment.attach_status} "
            "and cannot be completed.",
        )
    await _move(s, volume, (V.RESERVED, V.ATTACHING, V.IN_USE), V.IN_USE, attach_status="attached")
    attachment.attach_status = "attached"
    attachment.attach_time = utcnow()
    attachment.status_reason = None
    attachment.updated_at = utcnow()


async def begin_detach(s: AsyncSession, volume: Volume) -> None:
    """``in-use`` -> ``detaching`` (os-begin_detaching)."""
    if not await _move(s, volume, (V.IN_USE,), V.DETACHING):
        raise AttachError(
            400,
            f"Invalid volume: Volume {volume.id} status must be in-use to begin detaching, "
            f"but the current status is {volume.status}.",
        )


async def undo_attach(s: AsyncSession, volume: Volume) -> None:
    """``reserved``/``attaching`` -> ``detaching``: an attach whose outcome is unknown is
    detached from the host before the volume is available again."""
    await _move(s, volume, (V.RESERVED, V.ATTACHING), V.DETACHING)


async def roll_detach(s: AsyncSession, volume: Volume) -> None:
    """``detaching`` -> ``in-use`` (os-roll_detaching, a failed detach)."""
    await _move(s, volume, (V.DETACHING,), V.IN_USE)


async def remove(s: AsyncSession, attachment: VolumeAttachment, volume: Volume) -> None:
    """Delete the attachment; the volume is ``available`` again when none is left."""
    if attachment in s:
        s.expunge(attachment)  # its unflushed changes too: the row goes
    gone = await execute_count(
        s,
        delete(VolumeAttachment)
        .where(VolumeAttachment.id == attachment.id)
        .execution_options(synchronize_session=False),
    )
    if not gone:
        return  # removed meanwhile (a detach's result and the server's delete, at once)
    left = await s.scalar(
        select(func.count())
        .select_from(VolumeAttachment)
        .where(VolumeAttachment.volume_id == volume.id)
    )
    if not left:
        await _move(
            s,
            volume,
            (V.RESERVED, V.ATTACHING, V.IN_USE, V.DETACHING),
            V.AVAILABLE,
            attach_status="detached",
        )


async def of_volume(s: AsyncSession, volume_id: str) -> list[VolumeAttachment]:
    return list(
        await s.scalars(
            select(VolumeAttachment)
            .where(VolumeAttachment.volume_id == volume_id)
            .order_by(VolumeAttachment.created_at)
        )
    )


def attached_view(attachment: VolumeAttachment, iso: Any) -> dict[str, Any]:
    """One entry of a volume's ``attachments`` (Cinder shows attached ones only)."""
    return {
        "id": attachment.volume_id,
        "attachment_id": attachment.id,
        "volume_id": attachment.volume_id,
        "server_id": attachment.instance_uuid,
        "host_name": attachment.attached_host,
        "device": attachment.mountpoint,
        "attached_at": iso(attachment.attach_time),
    }
