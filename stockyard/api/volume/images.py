"""Volumes from images (``imageRef`` on create): which images a caller may copy, and how
large a volume must be to hold one."""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.api.errors import APIError
from stockyard.db.models import Image
from stockyard.identity.context import RequestContext

GIB = 1024**3


def image_min_gb(image: Image) -> int:
    """The smallest volume that holds ``image``: its virtual size (or size), its
    ``min_disk``, and at least 1 GB."""
    size = image.virtual_size or image.size or 0
    return max(1, image.min_disk or 0, math.ceil(size / GIB))


async def image_source(session: AsyncSession, ctx: RequestContext, ref: Any) -> Image | None:
    """The active image ``imageRef`` names, visible to the caller; Cinder's 400s else."""
    if not ref:
        return None
    image = await session.get(Image, str(ref))
    visible = image is not None and (
        ctx.is_admin or image.owner == ctx.project_id or image.visibility in ("public", "community")
    )
    if image is None or not visible:
        raise APIError(404, f"Image {ref} could not be found.")
    if image.status != "active" or not image.location:
        raise APIError(
            400, f"Invalid input received: Image {image.id} is not active (status {image.status})."
        )
    return image


# What Cinder copies of an image besides its properties (``_capture_volume_image_metadata``).
_IMAGE_ATTRIBUTES = ("checksum", "container_format", "disk_format", "min_disk", "min_ram", "size")


def image_metadata_of(image: Image) -> dict[str, str]:
    """The ``volume_image_metadata`` of a volume made from ``image``: its properties,
    then its id, name and base attributes, every value a string (Cinder stores text)."""
    out = {str(k): str(v) for k, v in (image.properties or {}).items() if v is not None}
    out["image_id"] = image.id
    if image.name:
        out["image_name"] = image.name
    for key in _IMAGE_ATTRIBUTES:
        value = getattr(image, key)
        if value is not None:
            out[key] = str(value)
    return out
