"""Nova's image proxy (deprecated; removed at 2.36): ``/images`` list, detail, show,
delete, in Nova's shape, over Stockyard's own image store.

Who sees and changes what is the Image API's rule (:mod:`stockyard.api.image.access`,
its list filters and its delete), called here rather than restated, so that sharing and
visibility never differ between the two APIs. The metadata sub-resource (removed at
2.39) is in :mod:`stockyard.api.compute.image_metadata`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from sqlalchemy import select
from starlette.datastructures import QueryParams

from stockyard.api.compute.image_metadata import image_not_found, load_image
from stockyard.api.compute.image_metadata import router as metadata_router
from stockyard.api.compute.removed import require_before
from stockyard.api.deps import Microversion, ProjectCtx, SessionDep, StateDep
from stockyard.api.errors import APIError
from stockyard.api.image.deps import StoreDep
from stockyard.api.image.filters import filter_clauses, int_param
from stockyard.api.image.images import delete_image as glance_delete_image
from stockyard.api.image.listing import SORT_KEYS, after_marker, parse_sort
from stockyard.db.models import Image

router = APIRouter()
router.include_router(metadata_router)

REMOVED_AT = "2.36"
MAX_LIMIT = 1000  # Nova's [api] max_limit

# Glance status -> Nova's (nova/api/openstack/compute/views/images.py).
_STATUS = {
    "active": "ACTIVE",
    "queued": "SAVING",
    "saving": "SAVING",
    "deleted": "DELETED",
    "pending_delete": "DELETED",
    "killed": "ERROR",
}
_PROGRESS = {"queued": 25, "saving": 50, "active": 100}


def _date(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _links(base_url: str, image_id: str) -> list[dict[str, str]]:
    return [
        {"rel": "self", "href": f"{base_url}/compute/v2.1/images/{image_id}"},
        {"rel": "bookmark", "href": f"{base_url}/compute/images/{image_id}"},
        {
            "rel": "alternate",
            "type": "application/vnd.openstack.image",
            "href": f"{base_url}/image/images/{image_id}",
        },
    ]


def brief_view(image: Image, base_url: str) -> dict[str, Any]:
    return {"id": image.id, "name": image.name, "links": _links(base_url, image.id)}


def detail_view(image: Image, base_url: str) -> dict[str, Any]:
    metadata = dict(image.properties or {})
    body: dict[str, Any] = {
        "id": image.id,
        "name": image.name,
        "minRam": image.min_ram or 0,
        "minDisk": image.min_disk or 0,
        "metadata": metadata,
        "created": _date(image.created_at),
        "updated": _date(image.updated_at),
        "status": _STATUS.get(image.status, "UNKNOWN"),
        "progress": _PROGRESS.get(image.status, 0),
        "OS-EXT-IMG-SIZE:size": image.size,
        "links": _links(base_url, image.id),
    }
    # A snapshot names the server it was taken from (Nova's instance_uuid property).
    server = metadata.get("instance_uuid")
    if server is not None:
        body["server"] = {
            "id": server,
            "links": [
                {"rel": "self", "href": f"{base_url}/compute/v2.1/servers/{server}"},
                {"rel": "bookmark", "href": f"{base_url}/compute/servers/{server}"},
            ],
        }
    auto = metadata.get("auto_disk_config")
    if auto is not None:
        on = str(auto).strip().lower() in ("1", "t", "true", "on", "y", "yes")
        body["OS-DCF:diskConfig"] = "AUTO" if on else "MANUAL"
    return body


def _glance_filters(params: QueryParams) -> QueryParams:
    """Nova's filters in the Image API's syntax, as Nova passes them on to Glance."""
    out: list[tuple[str, str]] = []
    for key, value in params.multi_items():
        if key in ("name", "status"):
            out.append((key, value.lower() if key == "status" else value))
        elif key == "changes-since":
            out.append(("updated_at", f"gte:{value}"))
        elif key == "server":
            # The server may be given as its URL: the uuid is the last segment.
            out.append(("instance_uuid", value.rsplit("/", 1)[-1]))
        elif key == "type":
            out.append(("image_type", value))
        elif key.startswith("property-") and len(key) > len("property-"):
            out.append((key.removeprefix("property-"), value))
    return QueryParams(out)


async def _list(
    request: Request, session: SessionDep, ctx: ProjectCtx, version: Microversion
) -> tuple[list[Image], int | None]:
    """The visible images matching Nova's filters, newest first; the page's limit."""
    require_before(version, REMOVED_AT)
    params = request.query_params
    clauses = filter_clauses(_glance_filters(params), ctx)
    for key, column in (("minRam", Image.min_ram), ("minDisk", Image.min_disk)):
        if key in params:
            clauses.append(column >= int_param(key, params[key]))
    keys = parse_sort(QueryParams())  # Glance's default order: newest first
    if "marker" in params:
        marker = await load_image(session, ctx, params["marker"])
        if marker is None:
            raise APIError(400, f"marker [{params['marker']}] not found")
        row = tuple(
            (
                await session.execute(
                    select(*[SORT_KEYS[k] for k, _ in keys]).where(Image.id == marker.id)
                )
            ).one()
        )
        clauses.append(after_marker(keys, row))
    limit = min(int_param("limit", params["limit"]), MAX_LIMIT) if "limit" in params else None
    order = [SORT_KEYS[k].desc() for k, _ in keys]
    query = select(Image).where(*clauses).order_by(*order)
    if limit is not None:
        query = query.limit(limit)
    return list((await session.scalars(query)).all()), limit


def _collection(
    request: Request, base_url: str, images: list[Image], limit: int | None, body: list[Any]
) -> dict[str, Any]:
    out: dict[str, Any] = {"images": body}
    if limit and len(images) == limit:
        params = [(k, v) for k, v in request.query_params.multi_items() if k != "marker"]
        params.append(("marker", images[-1].id))
        path = "images/detail" if request.url.path.endswith("/detail") else "images"
        href = f"{base_url}/compute/v2.1/{path}?{urlencode(params)}"
        out["images_links"] = [{"rel": "next", "href": href}]
    return out


@router.get("/images")
async def list_images(
    request: Request, session: SessionDep, ctx: ProjectCtx, version: Microversion, state: StateDep
) -> dict[str, Any]:
    """Id, name and links of the images the caller may see."""
    images, limit = await _list(request, session, ctx, version)
    base = state.settings.base_url
    return _collection(request, base, images, limit, [brief_view(i, base) for i in images])


@router.get("/images/detail")
async def list_images_detail(
    request: Request, session: SessionDep, ctx: ProjectCtx, version: Microversion, state: StateDep
) -> dict[str, Any]:
    images, limit = await _list(request, session, ctx, version)
    base = state.settings.base_url
    return _collection(request, base, images, limit, [detail_view(i, base) for i in images])


@router.get("/images/{image_id}")
async def show_image(
    image_id: str, session: SessionDep, ctx: ProjectCtx, version: Microversion, state: StateDep
) -> dict[str, Any]:
    require_before(version, REMOVED_AT)
    image = await load_image(session, ctx, image_id)
    if image is None:
        raise image_not_found()
    return {"image": detail_view(image, state.settings.base_url)}


@router.delete("/images/{image_id}", status_code=204)
async def delete_image(
    image_id: str, session: SessionDep, ctx: ProjectCtx, version: Microversion, store: StoreDep
) -> Response:
    """The Image API's delete (owner or admin, not protected), with Nova's answers."""
    require_before(version, REMOVED_AT)
    if await load_image(session, ctx, image_id) is None:
        raise image_not_found()
    if not ctx.can_write:
        raise APIError(403, "You are not allowed to delete the image.")
    try:
        await glance_delete_image(image_id, session, ctx, store)
    except APIError as exc:
        if exc.status == 404:
            raise image_not_found() from None
        if exc.status == 403:
            raise APIError(403, "You are not allowed to delete the image.") from None
        raise
    return Response(status_code=204)


@router.delete("/images/", include_in_schema=False)
async def delete_image_without_id(ctx: ProjectCtx) -> Response:
    # An empty id names no image (Nova: 404); without this route the trailing slash would
    # be redirected to the collection.
    raise image_not_found()
