"""Who may see and change which image. Project isolation is absolute: an image a caller
may not see is reported exactly as one that does not exist."""

from __future__ import annotations

from sqlalchemy import ColumnElement, or_, true
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.api.errors import APIError
from stockyard.db.models import Image
from stockyard.identity.context import RequestContext


def visible_clause(ctx: RequestContext) -> ColumnElement[bool]:
    """Rows ``ctx`` may read: admins all, others public, community and their own."""
    if ctx.is_admin:
        return true()
    return or_(
        Image.visibility.in_(("public", "community")),
        Image.owner == ctx.project_id,
    )


def can_see(ctx: RequestContext, image: Image) -> bool:
    return (
        ctx.is_admin
        or image.visibility in ("public", "community")
        or (image.owner is not None and image.owner == ctx.project_id)
    )


def can_modify(ctx: RequestContext, image: Image) -> bool:
    return ctx.is_admin or (image.owner is not None and image.owner == ctx.project_id)


async def find_visible(session: AsyncSession, ctx: RequestContext, image_id: str) -> Image | None:
    """The image if it exists and ``ctx`` may see it, else None."""
    if len(image_id) > 36:
        return None
    image = await session.get(Image, image_id)
    if image is None or not can_see(ctx, image):
        return None
    return image


async def get_image_or_404(session: AsyncSession, ctx: RequestContext, image_id: str) -> Image:
    """For the image API: a missing or invisible image is 404."""
    image = await find_visible(session, ctx, image_id)
    if image is None:
        raise APIError(404, f"No image found with ID {image_id}")
    return image


async def get_modifiable_image(session: AsyncSession, ctx: RequestContext, image_id: str) -> Image:
    """404 when invisible, 403 when visible but owned by another project."""
    image = await get_image_or_404(session, ctx, image_id)
    if not can_modify(ctx, image):
        raise APIError(403, f"You are not permitted to modify image {image_id}.")
    return image


async def get_visible_image(
    session: AsyncSession,
    ctx: RequestContext,
    image_id: str,
    *,
    require_active: bool = True,
) -> Image:
    """For the compute API: the image a server is booted from.

    Raises ``APIError(400)`` as Nova does when the image is unknown or invisible to the
    caller ("Image <id> could not be found.") or, with ``require_active``, not yet active.
    """
    image = await find_visible(session, ctx, image_id)
    if image is None:
        raise APIError(400, f"Image {image_id} could not be found.")
    if require_active and image.status != "active":
        raise APIError(400, f"Image {image_id} is not active.")
    return image
