"""Cinder's response shapes: volumes, snapshots, volume types (``version`` adds what
later microversions add)."""

from __future__ import annotations

from typing import Any

from stockyard.api.microversion import APIVersion
from stockyard.api.volume.common import iso
from stockyard.db.models import Volume, VolumeAttachment, VolumeSnapshot, VolumeType
from stockyard.identity.context import RequestContext
from stockyard.volume.attachments import attached_view

BASE = APIVersion(3, 0)


def _links(base_url: str, project_id: str, kind: str, row_id: str) -> list[dict[str, str]]:
    return [
        {"href": f"{base_url}/volume/v3/{project_id}/{kind}/{row_id}", "rel": "self"},
        {"href": f"{base_url}/volume/{project_id}/{kind}/{row_id}", "rel": "bookmark"},
    ]


def volume_metadata(volume: Volume) -> dict[str, str]:
    """The user's metadata plus Cinder's visible admin metadata (``readonly``)."""
    metadata = {str(k): str(v) for k, v in (volume.metadata_ or {}).items()}
    if volume.readonly is not None:
        metadata["readonly"] = str(volume.readonly)
    return metadata


def _loaded_attachments(volume: Volume) -> list[VolumeAttachment]:
    # Rows read from the database come with their attachments (selectin); a volume
    # created in this request has none, and a lazy load would need IO here.
    return list(volume.__dict__.get("attachments") or [])


def volume_summary(volume: Volume, base_url: str) -> dict[str, Any]:
    return {
        "id": volume.id,
        "name": volume.name,
        "links": _links(base_url, volume.project_id, "volumes", volume.id),
    }


def volume_detail(
    volume: Volume,
    type_name: str | None,
    ctx: RequestContext,
    base_url: str,
    *,
    extended: bool = True,
    version: APIVersion = BASE,
) -> dict[str, Any]:
    """Cinder's detail view; ``extended`` adds what its API extensions add to show and
    list (tenant attribute; host and migration attributes for admins), which create and
    update responses do not carry."""
    body: dict[str, Any] = {
        "id": volume.id,
        "status": volume.status,
        "size": volume.size,
        "availability_zone": volume.availability_zone,
        "created_at": iso(volume.created_at),
        "updated_at": iso(volume.updated_at),
        "attachments": [
            attached_view(a, iso)
            for a in _loaded_attachments(volume)
            if a.attach_status == "attached"
        ],
        "name": volume.name,
        "description": volume.description,
        "volume_type": type_name,
        "snapshot_id": volume.snapshot_id,
        "source_volid": volume.source_volid,
        "metadata": volume_metadata(volume),
        "links": _links(base_url, volume.project_id, "volumes", volume.id),
        "user_id": volume.user_id,
        "bootable": "true" if volume.bootable else "false",
        "encrypted": False,
        "replication_status": None,
        "consistencygroup_id": None,
        "multiattach": volume.multiattach,
    }
    if version >= APIVersion(3, 13):
        body["group_id"] = None  # no generic volume groups here
    if version >= APIVersion(3, 21) and ctx.is_admin:
        body["provider_id"] = None
    if not extended:
        return body
    body["os-vol-tenant-attr:tenant_id"] = volume.project_id
    if volume.image_metadata:  # os-vol-image-meta: only volumes that have some
        body["volume_image_metadata"] = dict(volume.image_metadata)
    if ctx.is_admin:
        host = f"stockyard@{volume.backend}#{volume.backend}" if volume.backend else None
        body["os-vol-host-attr:host"] = host
        body["os-vol-mig-status-attr:migstat"] = None
        body["os-vol-mig-status-attr:name_id"] = None
        body["migration_status"] = None
    return body


def snapshot_view(
    snap: VolumeSnapshot, *, extended: bool, version: APIVersion = BASE
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": snap.id,
        "created_at": iso(snap.created_at),
        "updated_at": iso(snap.updated_at),
        "name": snap.name,
        "description": snap.description,
        "volume_id": snap.volume_id,
        "status": snap.status,
        "size": snap.size,
        "metadata": dict(snap.metadata_ or {}),
    }
    if version >= APIVersion(3, 41):
        body["user_id"] = snap.user_id
    if extended:
        body["os-extended-snapshot-attributes:progress"] = snap.progress
        body["os-extended-snapshot-attributes:project_id"] = snap.project_id
    return body


def type_view(
    vtype: VolumeType, ctx: RequestContext, *, created: bool = False, updated: bool = False
) -> dict[str, Any]:
    """Cinder's type view; ``qos_specs_id`` (no QoS specs here: always null) is shown to
    admins, except in the create response, which never carries it. The update response
    carries neither it nor the type-access extension's key (Cinder's extensions do not
    decorate update)."""
    body: dict[str, Any] = {
        "id": vtype.id,
        "name": vtype.name,
        "description": vtype.description,
        "is_public": vtype.is_public,
    }
    if not updated:
        body["os-volume-type-access:is_public"] = vtype.is_public
    if ctx.is_admin and not created and not updated:
        body["qos_specs_id"] = None
    # Extra specs name backends and their tuning: Cinder shows them to admins only.
    if ctx.is_admin:
        body["extra_specs"] = dict(vtype.extra_specs or {})
    return body
