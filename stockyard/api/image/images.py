"""Image create, show, delete and deactivate/reactivate (Glance v2)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from sqlalchemy.exc import IntegrityError

from stockyard.api.deletes import delete_or_404
from stockyard.api.deps import ProjectCtx, SessionDep, StateDep, WriterCtx
from stockyard.api.errors import APIError
from stockyard.api.image.access import (
    can_modify,
    get_image_or_404,
    get_modifiable_image,
    image_not_found,
)
from stockyard.api.image.deps import StoreDep, read_json
from stockyard.api.image.validation import (
    check_property_quota,
    validate_core,
    validate_property,
)
from stockyard.api.image.views import image_view
from stockyard.db.models import Image
from stockyard.identity.context import RequestContext
from stockyard.image.formats import CORE_WRITABLE, reserved_reason
from stockyard.image.store import ImageStore

router = APIRouter()


def build_image(body: Any, ctx: RequestContext) -> Image:
    """A new queued image from a create body; 400/403 naming the first bad attribute."""
    if not isinstance(body, dict):
        raise APIError(400, "Body expected in request: an image object.")
    for key in body:
        reason = None if key == "id" else reserved_reason(key)
        if reason:
            raise APIError(403, reason)
    core: dict[str, Any] = {}
    properties: dict[str, str] = {}
    for key, value in body.items():
        if key in CORE_WRITABLE:
            core[key] = validate_core(key, value, ctx)
        else:
            properties[key] = validate_property(key, value)
    check_property_quota(properties)
    image = Image(
        name=core.get("name"),
        owner=core.get("owner", ctx.project_id),
        status="queued",
        visibility=core.get("visibility", "shared"),
        disk_format=core.get("disk_format"),
        container_format=core.get("container_format"),
        min_disk=core.get("min_disk", 0),
        min_ram=core.get("min_ram", 0),
        protected=core.get("protected", False),
        os_hidden=core.get("os_hidden", False),
        tags=core.get("tags", []),
        properties=properties,
    )
    if "id" in core:
        image.id = core["id"]
    return image


@router.post("/v2/images", status_code=201)
async def create_image(
    body: Annotated[Any, Depends(read_json)],
    response: Response,
    session: SessionDep,
    ctx: WriterCtx,
    state: StateDep,
) -> dict[str, Any]:
    """Create a queued image record; data comes later with PUT .../file."""
    image = build_image(body, ctx)
    session.add(image)
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise APIError(409, f"Image with identifier {image.id} already exists!") from None
    response.headers["Location"] = f"{state.settings.base_url}/image/v2/images/{image.id}"
    return image_view(image)


@router.get("/v2/images/{image_id}")
async def show_image(image_id: str, session: SessionDep, ctx: ProjectCtx) -> dict[str, Any]:
    return image_view(await get_image_or_404(session, ctx, image_id))


@router.delete("/v2/images/{image_id}", status_code=204)
async def delete_image(
    image_id: str, session: SessionDep, ctx: WriterCtx, store: StoreDep
) -> Response:
    """Delete the record and its data; protected images refuse (403). Of two deletes at
    once, the one that finds the row gone answers Glance's 404 and removes no data."""
    image = await get_modifiable_image(session, ctx, image_id)
    if image.protected:
        raise APIError(403, f"Image {image_id} is protected and cannot be deleted.")
    location = image.location
    await delete_or_404(session, image, image_not_found(image_id))
    await session.commit()
    # The row goes first: a crash between the two leaves an orphan file, never a row
    # pointing at missing data.
    await _remove_data(store, location)
    return Response(status_code=204)


async def _remove_data(store: ImageStore, location: str | None) -> None:
    if location:
        await store.delete(location)


@router.post("/v2/images/{image_id}/actions/deactivate", status_code=204)
async def deactivate_image(image_id: str, session: SessionDep, ctx: WriterCtx) -> Response:
    """Owner project (member role) or admin, as Glance's default policy; a deactivated
    image's data is then downloadable by admins only."""
    await _set_active(session, ctx, image_id, active=False)
    return Response(status_code=204)


@router.post("/v2/images/{image_id}/actions/reactivate", status_code=204)
async def reactivate_image(image_id: str, session: SessionDep, ctx: WriterCtx) -> Response:
    await _set_active(session, ctx, image_id, active=True)
    return Response(status_code=204)


async def _set_active(
    session: SessionDep, ctx: RequestContext, image_id: str, *, active: bool
) -> None:
    image = await get_image_or_404(session, ctx, image_id)
    action = "reactivate" if active else "deactivate"
    if not can_modify(ctx, image):
        raise APIError(403, f"You are not authorized to complete {action}_image action.")
    wanted, allowed_from = ("active", "deactivated") if active else ("deactivated", "active")
    if image.status == wanted:
        return  # a no-op in Glance too
    if image.status != allowed_from:
        raise APIError(403, f"Not allowed to {action} image in status '{image.status}'")
    image.status = wanted
    await session.commit()


# "/v2/images/" names no image: Glance's router matches nothing there (404), where ours
# would redirect to the list. Tempest's show/delete with an empty id expect that 404.
async def empty_image_id() -> Response:
    raise APIError(404, "The resource could not be found.")


# One route per method, each with its own name: one route of several methods gives them
# all one OpenAPI operation id, which FastAPI warns about as a duplicate.
for _method in ("GET", "DELETE", "PATCH", "PUT"):
    router.add_api_route(
        "/v2/images/", empty_image_id, methods=[_method], name=f"empty_image_id_{_method.lower()}"
    )
