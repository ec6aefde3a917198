"""Image rows as Glance v2 shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from stockyard.db.models import Image
from stockyard.db.models.image import ImageMember


def isotime(value: datetime) -> str:
    """Glance's timestamp form: ``2026-11-25T20:00:00Z``."""
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def image_view(image: Image) -> dict[str, Any]:
    """The image body: core attributes, then custom properties flattened at top level."""
    body: dict[str, Any] = dict(image.properties or {})
    body.update(
        {
            "id": image.id,
            "name": image.name,
            "status": image.status,
            "visibility": image.visibility,
            "protected": image.protected,
            "os_hidden": image.os_hidden,
            "checksum": image.checksum,
            "os_hash_algo": image.os_hash_algo,
            "os_hash_value": image.os_hash_value,
            "owner": image.owner,
            "size": image.size,
            "virtual_size": image.virtual_size,
            "min_disk": image.min_disk,
            "min_ram": image.min_ram,
            "disk_format": image.disk_format,
            "container_format": image.container_format,
            "tags": list(image.tags or []),
            "created_at": isotime(image.created_at),
            "updated_at": isotime(image.updated_at),
            "self": f"/v2/images/{image.id}",
            "file": f"/v2/images/{image.id}/file",
            "schema": "/v2/schemas/image",
        }
    )
    return body


def member_view(member: ImageMember) -> dict[str, Any]:
    """An image member as Glance shows it."""
    return {
        "image_id": member.image_id,
        "member_id": member.member_id,
        "status": member.status,
        "created_at": isotime(member.created_at),
        "updated_at": isotime(member.updated_at),
        "schema": "/v2/schemas/member",
    }
