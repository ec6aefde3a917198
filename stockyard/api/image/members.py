"""Image sharing (Glance v2 members): /v2/images/{id}/members[/{member_id}].

The owner project adds and removes member projects; each member alone answers (pending,
accepted, rejected). Only ``shared`` images take members. A member sees the image (show,
download) whatever its answer; the answer decides whether it appears in its default list.
Callers who may not see the image get 404, as for the image itself.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from stockyard.api.deletes import delete_or_404
from stockyard.api.deps import ProjectCtx, SessionDep, WriterCtx
from stockyard.api.errors import APIError
from stockyard.api.image.access import can_modify, find_member, get_image_or_404, image_not_found
from stockyard.api.image.deps import read_json
from stockyard.api.image.views import member_view
from stockyard.db.models import Image
from stockyard.db.models.image import ImageMember
from stockyard.identity.context import RequestContext

router = APIRouter()

MEMBER_STATUSES = ("pending", "accepted", "rejected")
MAX_MEMBERS = 128  # Glance's image_member_quota
MAX_MEMBER_ID = 255  # the column (Glance's too)


def _member_id_from(body: Any) -> str:
    member = body.get("member") if isinstance(body, dict) else None
    if not isinstance(member, str) or not member:
        raise APIError(400, "Member to be added not specified")
    if len(member) > MAX_MEMBER_ID:
        raise APIError(400, f"Member id is longer than {MAX_MEMBER_ID} characters.")
    return member


def _status_from(body: Any) -> Any:
    if not isinstance(body, dict) or "status" not in body:
        raise APIError(400, "Status not specified")
    return body["status"]


def _not_found(image_id: str, member_id: str) -> APIError:
    return APIError(404, f"{member_id} not found in the member list of the image {image_id}.")


async def _owned_image(
    session: SessionDep, ctx: RequestContext, image_id: str, action: str
) -> Image:
    """The image if ``ctx`` is its owner (or admin): 404 unseen, 403 seen but not owned."""
    image = await get_image_or_404(session, ctx, image_id)
    if not can_modify(ctx, image):
        raise APIError(403, f"You are not authorized to complete {action} action.")
    return image


@router.post("/v2/images/{image_id}/members")
async def add_member(
    image_id: str,
    body: Annotated[Any, Depends(read_json)],
    session: SessionDep,
    ctx: WriterCtx,
) -> dict[str, Any]:
    """Share with a project: a pending membership (Glance answers 200, not 201)."""
    member_id = _member_id_from(body)
    image = await _owned_image(session, ctx, image_id, "add_member")
    if image.visibility != "shared":
        raise APIError(403, f"Not allowed to create members for image {image_id}.")
    if await find_member(session, image_id, member_id) is not None:
        raise APIError(409, f"Member {member_id} is duplicated for image {image_id}")
    count = await session.scalar(
        select(func.count()).select_from(ImageMember).where(ImageMember.image_id == image_id)
    )
    if (count or 0) >= MAX_MEMBERS:
        raise APIError(
            413,
            f"Image member limit exceeded for image {image_id}: at most {MAX_MEMBERS} members.",
        )
    member = ImageMember(image_id=image_id, member_id=member_id, status="pending")
    session.add(member)
    try:
        await session.commit()
    except IntegrityError:
        # Another request added the same member, or deleted the image, meanwhile.
        await session.rollback()
        if await find_member(session, image_id, member_id) is not None:
            raise APIError(409, f"Member {member_id} is duplicated for image {image_id}") from None
        raise APIError(404, image_not_found(image_id)) from None
    return member_view(member)


@router.get("/v2/images/{image_id}/members")
async def list_members(image_id: str, session: SessionDep, ctx: ProjectCtx) -> dict[str, Any]:
    """The owner (and admins) see every member; a member sees only its own membership."""
    image = await get_image_or_404(session, ctx, image_id)
    query = select(ImageMember).where(ImageMember.image_id == image_id)
    if not can_modify(ctx, image):
        query = query.where(ImageMember.member_id == ctx.project_id)
    rows = await session.scalars(query.order_by(ImageMember.created_at, ImageMember.id))
    return {"members": [member_view(m) for m in rows], "schema": "/v2/schemas/members"}


@router.get("/v2/images/{image_id}/members/{member_id}")
async def show_member(
    image_id: str, member_id: str, session: SessionDep, ctx: ProjectCtx
) -> dict[str, Any]:
    image = await get_image_or_404(session, ctx, image_id)
    # Another member's answer is not this member's business: as absent (Glance's 404).
    if not can_modify(ctx, image) and member_id != ctx.project_id:
        raise _not_found(image_id, member_id)
    member = await find_member(session, image_id, member_id)
    if member is None:
        raise _not_found(image_id, member_id)
    return member_view(member)


@router.put("/v2/images/{image_id}/members/{member_id}")
async def update_member(
    image_id: str,
    member_id: str,
    body: Annotated[Any, Depends(read_json)],
    session: SessionDep,
    ctx: WriterCtx,
) -> dict[str, Any]:
    """Only the member project (or an admin) answers; the owner cannot accept for it."""
    status = _status_from(body)
    await get_image_or_404(session, ctx, image_id)
    if not ctx.is_admin and member_id != ctx.project_id:
        raise APIError(403, "You are not authorized to complete modify_member action.")
    member = await find_member(session, image_id, member_id)
    if member is None:
        raise _not_found(image_id, member_id)
    if status not in MEMBER_STATUSES:
        raise APIError(
            400, 'Incorrect request: Status must be "pending", "accepted" or "rejected".'
        )
    if member.status != status:
        member.status = status
        await session.commit()
        await session.refresh(member)
    return member_view(member)


@router.delete("/v2/images/{image_id}/members/{member_id}", status_code=204)
async def remove_member(
    image_id: str, member_id: str, session: SessionDep, ctx: WriterCtx
) -> Response:
    await _owned_image(session, ctx, image_id, "delete_member")
    member = await find_member(session, image_id, member_id)
    if member is None:
        raise _not_found(image_id, member_id)
    await delete_or_404(session, member, _not_found(image_id, member_id).message)
    await session.commit()
    return Response(status_code=204)
