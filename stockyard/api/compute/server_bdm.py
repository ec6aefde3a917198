"""``block_device_mapping_v2`` on server create: boot from volume, volumes at build.

Validated as Nova's API does (field messages, ``Block Device Mapping is Invalid: ...``
400s). What a server asks for is kept on its row (``instances.block_devices``), one
dict per mapping::

    {"boot_index": 0 | None, "source_type": "image|volume|snapshot|blank",
     "volume_id": str | None, "delete_on_termination": bool, "device_name": str | None,
     "tag": str | None, "error": str | None}

Volumes to make (from an image, a snapshot, or blank) are created here, in the create's
transaction, as Block Storage ``creating`` rows the volume role fills; a volume quota
refusal is not a 4xx (Nova makes its volumes on the compute side): the mapping keeps
the reason in ``error`` and the build ends the server in ERROR with it. The build waits
for the volumes (``stockyard.placement.boot_volumes``), reserves and connects them on
the chosen host and the driver boots from the ``boot_index`` 0 one.
"""

from __future__ import annotations

import re
import uuid as uuidlib
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.api.errors import APIError
from stockyard.api.image.access import get_visible_image
from stockyard.api.microversion import APIVersion
from stockyard.api.state import APIState
from stockyard.api.volume.images import image_min_gb
from stockyard.api.volume.types import default_type
from stockyard.db.base import utcnow
from stockyard.db.models import Image, Volume, VolumeSnapshot
from stockyard.identity.context import RequestContext
from stockyard.volume import quota
from stockyard.volume.states import SnapshotStatus, VolumeStatus

SOURCES = ("volume", "image", "snapshot", "blank")
DESTINATIONS = ("local", "volume")
_KEYS = {
    "source_type",
    "uuid",
    "image_id",
    "destination_type",
    "guest_format",
    "device_type",
    "disk_bus",
    "boot_index",
    "device_name",
    "delete_on_termination",
    "no_device",
    "connection_info",
    "snapshot_id",
    "volume_id",
    "volume_size",
}
_INT = re.compile(r"^-?[0-9]+$")


def invalid(details: str) -> APIError:
    return APIError(400, f"Block Device Mapping is Invalid: {details}")


def _field_error(name: str, value: Any, why: str) -> APIError:
    return APIError(400, f"Invalid input for field/attribute {name}. Value: {value}. {why}")


@dataclass
class Mapping:
    """One validated mapping; ``volume``/``image``/``snapshot`` are its source."""

    source_type: str
    destination_type: str
    boot_index: int | None
    delete_on_termination: bool
    volume_size: int | None
    device_name: str | None
    tag: str | None
    volume_type: str | None
    volume: Volume | None = None
    image: Image | None = None
    snapshot: VolumeSnapshot | None = None


@dataclass
class Plan:
    """The validated mappings of a create; ``boot_image`` is set when the server still
    boots from an image (a ``local`` root), ``volume_backed`` when from a volume."""

    mappings: list[Mapping] = field(default_factory=list)
    boot_image: Image | None = None

    @property
    def volume_backed(self) -> bool:
        return any(m.boot_index == 0 and m.destination_type == "volume" for m in self.mappings)


def _boot_index(raw: Any) -> int | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | str) or not _INT.match(str(raw)):
        raise _field_error("boot_index", raw, f"{raw!r} is not of type 'integer', 'string', 'null'")
    index = int(raw)
    return index if index >= 0 else None


def _size(raw: Any) -> int | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | str) or not _INT.match(str(raw)):
        raise _field_error("volume_size", raw, f"{raw!r} is not of type 'integer', 'string'")
    size = int(raw)
    if size < 1:
        raise _field_error("volume_size", raw, f"{size} is less than the minimum of 1")
    return size


def _parse(item: Any, version: APIVersion) -> tuple[Mapping, str | None]:
    if not isinstance(item, dict):
        raise _field_error("block_device_mapping_v2", item, "It must be an object.")
    allowed = set(_KEYS)
    if version.at_least("2.42"):
        allowed.add("tag")
    if version.at_least("2.67"):
        allowed.add("volume_type")
    if extra := sorted(set(item) - allowed):
        raise APIError(
            400,
            f"Invalid input for field/attribute block_device_mapping_v2. Value: {item}. "
            f"Additional properties are not allowed ({', '.join(map(repr, extra))} were "
            "unexpected)",
        )
    source = item.get("source_type")
    if source not in SOURCES:
        raise _field_error("source_type", source, f"{source!r} is not one of {list(SOURCES)}")
    dest = item.get("destination_type", "volume" if source != "image" else "local")
    if dest not in DESTINATIONS:
        raise _field_error("destination_type", dest, f"{dest!r} is not one of {list(DESTINATIONS)}")
    dot = item.get("delete_on_termination", False)
    if not isinstance(dot, bool):
        raise _field_error("delete_on_termination", dot, f"{dot!r} is not of type 'boolean'")
    ref = item.get("uuid") or item.get(f"{source}_id")
    if source != "blank" and not ref:
        raise invalid("Missing device UUID.")
    mapping = Mapping(
        source_type=source,
        destination_type=dest,
        boot_index=_boot_index(item.get("boot_index")),
        delete_on_termination=dot,
        volume_size=_size(item.get("volume_size")),
        device_name=item.get("device_name") or None,
        tag=item.get("tag"),
        volume_type=item.get("volume_type"),
    )
    return mapping, str(ref) if ref else None


async def plan(
    session: AsyncSession,
    ctx: RequestContext,
    raw: list[dict[str, Any]] | None,
    image_ref: str,
    count: int,
    version: APIVersion,
) -> Plan:
    """Validate ``block_device_mapping_v2`` (with the request's ``imageRef``)."""
    out = Plan()
    for item in raw or []:
        mapping, ref = _parse(item, version)
        await _load_source(session, ctx, mapping, ref, count)
        out.mappings.append(mapping)
    indexes = sorted(m.boot_index for m in out.mappings if m.boot_index is not None)
    root = next((m for m in out.mappings if m.boot_index == 0), None)
    if root is None and out.mappings:
        # The image (imageRef) is the root disk, boot index 0, as Nova prepends it.
        indexes = [0, *indexes]
    if (out.mappings and root is None and not image_ref) or indexes != list(range(len(indexes))):
        raise invalid(
            "Boot sequence for the instance and image/block device mapping combination is "
            "not valid."
        )
    for m in out.mappings:
        if m.destination_type == "local":
            if m is root and m.source_type == "image":
                out.boot_image = m.image
                continue
            raise invalid(
                "local ephemeral and swap disks are not supported by this cloud; "
                "use destination_type 'volume'."
            )
    return out


async def _load_source(
    session: AsyncSession, ctx: RequestContext, m: Mapping, ref: str | None, count: int
) -> None:
    if m.source_type == "image":
        assert ref is not None
        try:
            m.image = await get_visible_image(session, ctx, ref)
        except APIError:
            raise invalid(f"failed to get image {ref}.") from None
        if m.destination_type == "volume":
            if not m.volume_size:
                raise APIError(
                    400,
                    "Images with destination_type 'volume' need to have a non-zero size specified",
                )
            if m.volume_size < image_min_gb(m.image):
                raise APIError(
                    400,
                    f"Volume size {m.volume_size}GB cannot be smaller than the image minDisk "
                    f"size {image_min_gb(m.image)}GB.",
                )
    elif m.source_type == "blank":
        if m.destination_type == "volume" and not m.volume_size:
            raise APIError(
                400, "Blank volumes (source: 'blank', dest: 'volume') need to have non-zero size"
            )
    elif m.source_type == "volume":
        assert ref is not None
        volume = await _visible(session, ctx, Volume, ref)
        if volume is None:
            raise invalid(f"failed to get volume {ref}.")
        if volume.status != VolumeStatus.AVAILABLE:
            raise APIError(
                400,
                f"Invalid volume: volume '{ref}' status must be 'available'. Currently in "
                f"'{volume.status}'",
            )
        if m.boot_index == 0 and not volume.bootable:
            raise APIError(400, f"Block Device {ref} is not bootable.")
        if count > 1:
            raise invalid(f"volume {ref} cannot be attached to {count} servers at once.")
        m.volume = volume
    else:
        assert ref is not None
        snap = await _visible(session, ctx, VolumeSnapshot, ref)
        if snap is None:
            raise invalid(f"failed to get snapshot {ref}.")
        if snap.status != SnapshotStatus.AVAILABLE:
            raise APIError(
                400,
                f"Invalid snapshot: snapshot '{ref}' status must be 'available'. Currently "
                f"in '{snap.status}'",
            )
        if m.volume_size and m.volume_size < snap.size:
            raise invalid(f"volume_size {m.volume_size} is smaller than snapshot {ref}.")
        m.snapshot = snap
    if m.source_type != "volume" and m.destination_type == "volume" and m.volume_type:
        from stockyard.api.volume.types import find_type

        try:
            await find_type(session, ctx, m.volume_type)
        except APIError:
            raise APIError(400, f"Volume type {m.volume_type} could not be found.") from None


async def _visible(
    session: AsyncSession, ctx: RequestContext, model: type[Any], ref: str
) -> Any | None:
    try:
        uuidlib.UUID(ref)
    except ValueError:
        return None
    row = await session.get(model, ref)
    if row is None or (row.project_id != ctx.project_id and not ctx.is_admin):
        return None
    return row


async def make_volumes(
    state: APIState, session: AsyncSession, ctx: RequestContext, p: Plan, instance_uuid: str
) -> tuple[list[dict[str, Any]] | None, list[str]]:
    """The instance's ``block_devices`` and the ids of the volumes created for it (the
    caller hints the volume role after commit)."""
    rows: list[dict[str, Any]] = []
    created: list[str] = []
    devices = iter(f"/dev/vd{c}" for c in "bcdefghijklmnopqrstuvwxyz")
    for m in p.mappings:
        if m.destination_type != "volume":
            continue
        entry: dict[str, Any] = {
            "boot_index": m.boot_index,
            "source_type": m.source_type,
            "volume_id": m.volume.id if m.volume is not None else None,
            "delete_on_termination": m.delete_on_termination,
            "device_name": "/dev/vda" if m.boot_index == 0 else m.device_name or next(devices),
            "tag": m.tag,
            "error": None,
        }
        if m.volume is None:
            try:
                entry["volume_id"] = await _create(state, session, ctx, m, instance_uuid)
                created.append(entry["volume_id"])
            except quota.QuotaExceeded as exc:
                entry["error"] = f"Volume creation failed: {exc}"
        rows.append(entry)
    return (rows or None), created


async def _create(
    state: APIState, session: AsyncSession, ctx: RequestContext, m: Mapping, instance_uuid: str
) -> str:
    from stockyard.api.volume.types import find_type

    settings = state.settings
    vtype = (
        await find_type(session, ctx, m.volume_type) if m.volume_type else None
    ) or await default_type(session)
    size = m.volume_size or (m.snapshot.size if m.snapshot is not None else 1)
    assert ctx.project_id is not None
    await quota.check(
        session,
        settings,
        ctx.project_id,
        vtype.name,
        quota.Delta(volumes=1, gigabytes=size),
        volume_size=size,
    )
    volume = Volume(
        project_id=ctx.project_id,
        user_id=ctx.user_id,
        # Nova's names: image and snapshot copies are unnamed, blank ones say whose.
        name=f"{instance_uuid}-blank-vol" if m.source_type == "blank" else "",
        description="",
        size=size,
        status=VolumeStatus.CREATING,
        volume_type_id=vtype.id,
        availability_zone=settings.volume_availability_zone,
        metadata_={},
        snapshot_id=m.snapshot.id if m.snapshot is not None else None,
        image_id=m.image.id if m.image is not None else None,
        bootable=m.image is not None or m.snapshot is not None,
        task_started_at=utcnow(),
    )
    session.add(volume)
    await session.flush()
    return volume.id
