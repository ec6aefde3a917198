"""The volume actions on its image metadata (Cinder's ``os-vol-image-meta`` actions):
``os-set_image_metadata`` merges keys, ``os-unset_image_metadata`` removes one (404 if
absent), ``os-show_image_metadata`` reads them. Nova reads this metadata (image
properties) when it boots a server from the volume."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Response
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.api.errors import APIError
from stockyard.api.volume.common import check_metadata
from stockyard.db.base import utcnow
from stockyard.db.models import Volume

NAMES = frozenset({"os-set_image_metadata", "os-unset_image_metadata", "os-show_image_metadata"})


def _json(body: dict[str, Any]) -> Response:
    return Response(json.dumps(body), status_code=200, media_type="application/json")


async def run(name: str, args: Any, volume: Volume, session: AsyncSession) -> Response:
    held = dict(volume.image_metadata or {})
    if name == "os-show_image_metadata":
        return _json({"metadata": held})
    if name == "os-set_image_metadata":
        if not isinstance(args, dict) or "metadata" not in args:
            raise APIError(400, "Malformed request body: os-set_image_metadata needs metadata.")
        held.update(check_metadata(args["metadata"]))
        volume.image_metadata = held
        volume.updated_at = utcnow()
        await session.commit()
        return _json({"metadata": held})
    key = args.get("key") if isinstance(args, dict) else None
    if not isinstance(key, str) or not key:
        raise APIError(400, "Malformed request body: os-unset_image_metadata needs a key.")
    if key not in held:
        raise APIError(404, f"Glance metadata for volume {volume.id} with key {key} not found.")
    del held[key]
    volume.image_metadata = held or None
    volume.updated_at = utcnow()
    await session.commit()
    return Response(status_code=200)
