"""Who may see and change which image. Project isolation is absolute: an image a caller
may not see is reported exactly as one that does not exist.

A ``shared`` image is also seen by the projects it is shared with, whatever their answer
(pending, accepted or rejected), as Glance's ``is_image_visible``: the answer only decides
whether it shows in their default list (see ``filters``).
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, exists, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.api.errors import APIError
from stockyard.db.models import Image
from stockyard.db.models.image import ImageMember
from stockyard.identity.context import RequestContext


def member_clause(ctx: RequestContext, status: str | None = None) -> ColumnElement[bool]:
    """Shared images ``ctx``'s project is a member of (with ``status``, or any)."""
    membership = [ImageMember.image_id == Image.id, ImageMember.member_id == ctx.project_id]
    if status is not None:
        membership.append(ImageMember.status == status)
    return and_(Image.visibility == "shared", exists().where(*membership))


def visible_clause(ctx: RequestContext) -> ColumnElement[bool]:
    """Rows ``ctx`` may read: admins all, others public, community, their own and the
    shared images they are a member of."""
    if ctx.is_admin:
        return true()
    return or_(
        Image.visibility.in_(("public", "community")),
        Image.owner == ctx.project_id,
        member_clause(ctx),
    )


async def find_member(session: AsyncSession, image_id: str, member_id: str) -> ImageMember | None:
    return await session.scalar(
        select(ImageMember).where(
            ImageMember.image_id == image_id, ImageMember.member_id == member_id
        )
    )


async def can_see(session: AsyncSession, ctx: RequestContext, image: Image) -> bool:
    if (
        ctx.is_admin
        or image.visibility in ("public", "community")
        or (image.owner is not None and image.owner == ctx.project_id)
    ):
        return True
    if image.visibility != "shared" or ctx.project_id is None:
        return False
    return await find_member(session, image.id, ctx.project_id) is not None


def can_modify(ctx: RequestContext, image: Image) -> bool:
    return ctx.is_admin or (image.owner is not None and image.owner == ctx.project_id)


async def find_visible(session: AsyncSession, ctx: RequestContext, image_id: str) -> Image | None:
    """The image if it exists and ``ctx`` may see it, else None."""
    if len(image_id) > 36:
        return None
    image = await session.get(Image, image_id)
    if image is None or not await can_see(session, ctx, image):
        return None
    return image


def image_not_found(image_id: str) -> str:
    """Glance's 404 message for a missing (or invisible) image."""
    return f"No image found with ID {image_id}"


async def get_image_or_404(session: AsyncSession, ctx: RequestContext, image_id: str) -> Image:
    """For the image API: a missing or invisible image is 404."""
    image = await find_visible(session, ctx, image_id)
    if image is None:
        raise APIError(404, image_not_found(image_id))
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
