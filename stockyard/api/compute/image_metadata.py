"""Nova's image metadata proxy (deprecated; removed at 2.39): ``/images/{id}/metadata``.

An image's metadata is its custom properties in the Image API; the same rules apply
(owner or admin may change them, string values, the property quota, Glance's reserved
names refused), taken from :mod:`stockyard.api.image`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Response
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.api.compute.removed import require_before
from stockyard.api.deps import Microversion, ProjectCtx, SessionDep
from stockyard.api.errors import APIError
from stockyard.api.image.access import can_modify, find_visible
from stockyard.api.image.validation import check_property_quota, validate_property
from stockyard.db.models import Image
from stockyard.identity.context import RequestContext
from stockyard.image.formats import CORE_WRITABLE, reserved_reason

router = APIRouter()

REMOVED_AT = "2.39"


def image_not_found() -> APIError:
    return APIError(404, "Image not found.")


async def load_image(session: AsyncSession, ctx: RequestContext, image_id: str) -> Image | None:
    """The image if the caller may see it (the Image API's rule), else None."""
    return await find_visible(session, ctx, image_id)


async def _visible(session: AsyncSession, ctx: RequestContext, image_id: str) -> Image:
    image = await load_image(session, ctx, image_id)
    if image is None:
        raise image_not_found()
    return image


async def _modifiable(session: AsyncSession, ctx: RequestContext, image_id: str) -> Image:
    image = await _visible(session, ctx, image_id)
    if not (ctx.can_write and can_modify(ctx, image)):
        raise APIError(403, f"You are not permitted to modify image {image_id}.")
    return image


def _items(body: Any, root: str) -> dict[str, str]:
    """The ``{root: {key: value}}`` body, each pair a valid custom property."""
    if not isinstance(body, dict) or set(body) != {root} or not isinstance(body[root], dict):
        raise APIError(400, f"Malformed request body: an object '{root}' is required.")
    items: dict[str, str] = {}
    for key, value in body[root].items():
        # Core attributes are not metadata: Glance would take them as the image's own.
        reason = reserved_reason(key) or (
            f"Attribute '{key}' is not metadata." if key in CORE_WRITABLE else None
        )
        if reason:
            raise APIError(403, reason)
        try:
            items[key] = validate_property(key, value)
        except APIError as exc:
            raise APIError(400, exc.message) from None
    return items


async def _save(session: AsyncSession, image: Image, properties: dict[str, str]) -> None:
    try:
        check_property_quota(properties)
    except APIError:
        # Nova's image metadata quota is a 403, not the Image API's 413.
        raise APIError(403, "Quota exceeded for metadata items.") from None
    image.properties = properties
    await session.commit()


@router.get("/images/{image_id}/metadata")
async def list_metadata(
    image_id: str, session: SessionDep, ctx: ProjectCtx, version: Microversion
) -> dict[str, Any]:
    require_before(version, REMOVED_AT)
    image = await _visible(session, ctx, image_id)
    return {"metadata": dict(image.properties or {})}


@router.post("/images/{image_id}/metadata")
async def update_metadata(
    image_id: str,
    session: SessionDep,
    ctx: ProjectCtx,
    version: Microversion,
    body: Annotated[Any, Body()] = None,
) -> dict[str, Any]:
    """Add or change the given keys; the others stay."""
    require_before(version, REMOVED_AT)
    image = await _modifiable(session, ctx, image_id)
    merged = {**(image.properties or {}), **_items(body, "metadata")}
    await _save(session, image, merged)
    return {"metadata": merged}


@router.put("/images/{image_id}/metadata")
async def replace_metadata(
    image_id: str,
    session: SessionDep,
    ctx: ProjectCtx,
    version: Microversion,
    body: Annotated[Any, Body()] = None,
) -> dict[str, Any]:
    """Replace all metadata with the given keys."""
    require_before(version, REMOVED_AT)
    image = await _modifiable(session, ctx, image_id)
    items = _items(body, "metadata")
    await _save(session, image, items)
    return {"metadata": items}


@router.get("/images/{image_id}/metadata/{key}")
async def show_metadata_item(
    image_id: str, key: str, session: SessionDep, ctx: ProjectCtx, version: Microversion
) -> dict[str, Any]:
    require_before(version, REMOVED_AT)
    image = await _visible(session, ctx, image_id)
    properties = image.properties or {}
    if key not in properties:
        raise APIError(404, f"Image {image_id} has no metadata with key {key}.")
    return {"meta": {key: properties[key]}}


@router.put("/images/{image_id}/metadata/{key}")
async def set_metadata_item(
    image_id: str,
    key: str,
    session: SessionDep,
    ctx: ProjectCtx,
    version: Microversion,
    body: Annotated[Any, Body()] = None,
) -> dict[str, Any]:
    """Set one key; the body's single key must be the URL's."""
    require_before(version, REMOVED_AT)
    image = await _modifiable(session, ctx, image_id)
    items = _items(body, "meta")
    if len(items) > 1:
        raise APIError(400, "Request body contains too many items")
    if key not in items:
        raise APIError(400, "Request body and URI mismatch")
    await _save(session, image, {**(image.properties or {}), key: items[key]})
    return {"meta": {key: items[key]}}


@router.delete("/images/{image_id}/metadata/{key}", status_code=204)
async def delete_metadata_item(
    image_id: str, key: str, session: SessionDep, ctx: ProjectCtx, version: Microversion
) -> Response:
    require_before(version, REMOVED_AT)
    image = await _modifiable(session, ctx, image_id)
    properties = dict(image.properties or {})
    if key not in properties:
        raise APIError(404, "Invalid metadata key")
    del properties[key]
    await _save(session, image, properties)
    return Response(status_code=204)
