"""What the Block Storage routes share: the microversion dependency, the URL's project
check, row lookups that answer Cinder's 404s, hints to the volume role, paging."""

from __future__ import annotations

import ast
import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import Select, asc, desc
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.api.deps import ProjectCtx
from stockyard.api.errors import APIError
from stockyard.api.microversion import APIVersion
from stockyard.api.state import APIState
from stockyard.api.volume.versions import negotiate_dep
from stockyard.bus import contract
from stockyard.db.models import Volume, VolumeSnapshot
from stockyard.identity.context import RequestContext

VolumeVersion = Annotated[APIVersion, Depends(negotiate_dep)]
MAX_LIMIT = 1000
DB_MAX_INT = 0x7FFFFFFF
"""Cinder's bound on sizes and quota limits (its schemas' ``DB_MAX_INT``)."""


def strict_int(value: Any) -> int | None:
    """``value`` as an int when it is one (or its decimal string) within the database's
    range; ``None`` otherwise (booleans, floats, junk)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
        number = int(value.strip())
    else:
        return None
    return number if -DB_MAX_INT <= number <= DB_MAX_INT else None


async def check_path_project(path_project_id: str, ctx: ProjectCtx) -> None:
    """Cinder's ``/v3/{project_id}/...``: the URL's project must be the token's."""
    if path_project_id != ctx.project_id:
        raise APIError(400, "Malformed request url")


def body_of(body: Any, key: str) -> dict[str, Any]:
    """``body[key]`` as a dict, or Cinder's 400."""
    if not isinstance(body, dict) or not isinstance(body.get(key), dict):
        raise APIError(400, f"Missing required element '{key}' in request body.")
    return dict(body[key])


def parse_bool(value: Any, name: str) -> bool:
    """Cinder's ``strutils.bool_from_string(strict=True)``."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "t", "true", "on", "y", "yes"):
        return True
    if text in ("0", "f", "false", "off", "n", "no"):
        return False
    raise APIError(400, f"Invalid value '{value}' for {name}: expected a boolean.")


def parse_metadata_filter(raw: str) -> dict[str, str]:
    """The ``metadata`` list filter: JSON or a Python literal (``{'k': 'v'}``), as Cinder."""
    try:
        value = json.loads(raw)
    except ValueError:
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            raise APIError(400, f"Invalid metadata filter: {raw}") from None
    if not isinstance(value, dict):
        raise APIError(400, f"Invalid metadata filter: {raw}")
    return {str(k): str(v) for k, v in value.items()}


def check_metadata(metadata: Any) -> dict[str, str]:
    """Metadata keys and values as Cinder validates them."""
    if not isinstance(metadata, dict):
        raise APIError(400, "Invalid metadata: it must be a dict of strings.")
    for key, value in metadata.items():
        if not isinstance(key, str) or not key or len(key) > 255:
            raise APIError(400, "Invalid metadata: keys must be 1 to 255 characters.")
        if not isinstance(value, str) or len(value) > 255:
            raise APIError(
                400,
                f"Invalid metadata: the value of {key} must be a string of at most 255 characters.",
            )
    return dict(metadata)


def scope(stmt: Select[Any], model: Any, ctx: RequestContext, all_tenants: bool) -> Select[Any]:
    """A member's queries see its project; an admin's too, unless ``all_tenants``."""
    if all_tenants and ctx.is_admin:
        return stmt
    return stmt.where(model.project_id == ctx.project_id)


async def get_volume(session: AsyncSession, ctx: RequestContext, volume_id: str) -> Volume:
    volume = await session.get(Volume, volume_id)
    if volume is None or (volume.project_id != ctx.project_id and not ctx.is_admin):
        raise APIError(404, f"Volume {volume_id} could not be found.")
    return volume


async def get_snapshot(
    session: AsyncSession, ctx: RequestContext, snapshot_id: str
) -> VolumeSnapshot:
    snap = await session.get(VolumeSnapshot, snapshot_id)
    if snap is None or (snap.project_id != ctx.project_id and not ctx.is_admin):
        raise APIError(404, f"Snapshot {snapshot_id} could not be found.")
    return snap


async def hint(state: APIState, resource: str, row_id: str, request: Request) -> None:
    """Tell a volume role; the row is the truth, so a lost hint only waits for the
    reconciler."""
    message = contract.VolumeHint(
        resource=resource,
        id=row_id,
        request_id=getattr(request.state, "request_id", ""),
    )
    await state.bus.publish(contract.VOLUME, contract.encode(message))


def iso(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f") if value is not None else None


def sort_keys(request: Request, allowed: set[str]) -> list[tuple[str, str]]:
    """``sort=key[:dir],...`` or ``sort_key``/``sort_dir``; default created_at desc."""
    params = request.query_params
    pairs: list[tuple[str, str]] = []
    if sort := params.get("sort"):
        if params.get("sort_key") or params.get("sort_dir"):
            raise APIError(
                400,
                "The 'sort_key' and 'sort_dir' parameters are deprecated and cannot be "
                "used with the 'sort' parameter.",
            )
        for item in sort.split(","):
            key, _, direction = item.strip().partition(":")
            pairs.append((key, direction or "desc"))
    elif params.get("sort_key"):
        pairs.append((params["sort_key"], params.get("sort_dir", "desc")))
    # Cinder's column is display_name; it takes either spelling of the key.
    pairs = [("name" if k == "display_name" else k, d) for k, d in pairs]
    for key, direction in pairs:
        if key not in allowed:
            raise APIError(400, f"Invalid input received: Invalid sort key {key}")
        if direction not in ("asc", "desc"):
            raise APIError(400, f"Invalid input received: Invalid sort direction {direction}")
    return pairs or [("created_at", "desc")]


def parse_limit(request: Request) -> int:
    raw = request.query_params.get("limit")
    if raw is None:
        return MAX_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        raise APIError(400, "limit param must be an integer") from None
    if limit < 0:
        raise APIError(400, "limit param must be positive")
    return min(limit, MAX_LIMIT)


def parse_offset(request: Request) -> int:
    """Cinder's ``offset``: rows to skip after the marker."""
    raw = request.query_params.get("offset")
    if raw is None:
        return 0
    try:
        offset = int(raw)
    except ValueError:
        raise APIError(400, "offset param must be an integer") from None
    if offset < 0:
        raise APIError(400, "offset param must be positive")
    return offset


def apply_sort(stmt: Select[Any], model: Any, keys: list[tuple[str, str]]) -> Select[Any]:
    order = [(asc if d == "asc" else desc)(getattr(model, k)) for k, d in keys]
    if "id" not in {k for k, _ in keys}:
        order.append(desc(model.id))
    return stmt.order_by(*order)


def page(rows: list[Any], marker: str | None, limit: int, offset: int = 0) -> list[Any]:
    """The rows after ``marker`` (a row id) and ``offset`` more, at most ``limit``."""
    if marker:
        ids = [row.id for row in rows]
        if marker not in ids:
            raise APIError(404, f"Marker {marker} could not be found.")
        rows = rows[ids.index(marker) + 1 :]
    return rows[offset : offset + limit]


def next_link(
    request: Request, rows: list[Any], limit: int, requested: bool
) -> list[dict[str, str]]:
    """Cinder's ``<collection>_links``: a next link when a full page came back."""
    if not rows or len(rows) < limit or not requested:
        return []
    params = dict(request.query_params)
    params["marker"] = rows[-1].id
    params["limit"] = str(limit)
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return [{"href": f"{str(request.url).split('?')[0]}?{query}", "rel": "next"}]


def text_field(data: dict[str, Any], key: str, legacy: str) -> str | None:
    """A name or description (``display_name``/``display_description`` before v2) of at
    most 255 characters, or None."""
    value = data.get(key, data.get(legacy))
    if value is not None and (not isinstance(value, str) or len(value) > 255):
        raise APIError(400, f"Invalid input for field/attribute {key}: at most 255 characters.")
    return value
