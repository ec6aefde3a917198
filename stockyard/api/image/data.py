"""Image data: PUT/GET /v2/images/{id}/file.

An upload moves the image queued -> saving -> active. The queued -> saving step is a
conditional UPDATE, so of two concurrent uploads exactly one proceeds and the other gets
409. Any failure puts the image back to queued and leaves no data behind.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import ClientDisconnect

from stockyard.api.deps import ProjectCtx, SessionDep, StateDep, WriterCtx
from stockyard.api.errors import APIError
from stockyard.api.image.access import get_image_or_404, get_modifiable_image
from stockyard.api.image.deps import StoreDep
from stockyard.api.state import APIState
from stockyard.db.base import utcnow
from stockyard.db.models import Image
from stockyard.image.formats import HASH_ALGO
from stockyard.image.store import StoredData

log = logging.getLogger(__name__)
router = APIRouter()

OCTET = "application/octet-stream"


async def _set_status(session: AsyncSession, image_id: str, src: str, dst: str) -> bool:
    result = await session.execute(
        update(Image)
        .where(Image.id == image_id, Image.status == src)
        .values(status=dst, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    await session.commit()
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def _revert(state: APIState, image_id: str) -> None:
    """Back to queued after a failed upload, in a fresh session (the request's may be
    unusable if the failure was a cancellation)."""
    async with state.db.sessionmaker() as session:
        await _set_status(session, image_id, "saving", "queued")


def _expected_size(request: Request) -> int | None:
    raw = request.headers.get("x-openstack-image-size")
    if raw is None:
        return None
    if not raw.isdecimal():
        raise APIError(400, f"Invalid value for header 'X-OpenStack-Image-Size': {raw!r}.")
    return int(raw)


@router.put("/v2/images/{image_id}/file", status_code=204)
async def upload_image_data(
    image_id: str,
    request: Request,
    session: SessionDep,
    ctx: WriterCtx,
    store: StoreDep,
    state: StateDep,
) -> Response:
    """Stream the body into the store, hashing md5 and sha512 on the way."""
    content_type = request.headers.get("content-type", OCTET).split(";")[0].strip().lower()
    if content_type != OCTET:
        raise APIError(415, f"Unsupported Content-Type {content_type!r}: use {OCTET}.")
    expected = _expected_size(request)
    image = await get_modifiable_image(session, ctx, image_id)
    if not image.disk_format or not image.container_format:
        raise APIError(
            400,
            "Properties 'disk_format' and 'container_format' must be set prior to "
            "uploading image data.",
        )
    current = image.status
    if not await _set_status(session, image_id, "queued", "saving"):
        raise APIError(409, f"Image status transition from {current} to saving is not allowed.")
    try:
        stored = await store.write(image_id, request.stream())
        if expected is not None and stored.size != expected:
            await store.delete(stored.location)
            raise APIError(
                400,
                f"Uploaded {stored.size} bytes but header 'X-OpenStack-Image-Size' "
                f"announced {expected}.",
            )
    except ClientDisconnect:
        await asyncio.shield(_revert(state, image_id))
        log.info("upload of image %s interrupted: client disconnected", image_id)
        raise APIError(400, "Upload interrupted: the client disconnected before the end.") from None
    except BaseException:
        await asyncio.shield(_revert(state, image_id))
        raise
    if not await _activate(session, image_id, stored):
        # Deleted while we were receiving: the data has nothing to belong to.
        await store.delete(stored.location)
        raise APIError(
            410,
            f"Image {image_id} could not be found after upload. "
            "The image may have been deleted during the upload.",
        )
    return Response(status_code=204)


async def _activate(session: AsyncSession, image_id: str, stored: StoredData) -> bool:
    result = await session.execute(
        update(Image)
        .where(Image.id == image_id, Image.status == "saving")
        .values(
            status="active",
            size=stored.size,
            virtual_size=stored.size,
            checksum=stored.md5,
            os_hash_algo=HASH_ALGO,
            os_hash_value=stored.sha512,
            location=stored.location,
            updated_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    await session.commit()
    return bool(result.rowcount)  # type: ignore[attr-defined]


@router.get("/v2/images/{image_id}/file", response_model=None)
async def download_image_data(
    image_id: str, session: SessionDep, ctx: ProjectCtx, store: StoreDep
) -> Response | StreamingResponse:
    """200 with the data (Content-MD5 is the image checksum), 204 when there is none."""
    image = await get_image_or_404(session, ctx, image_id)
    if image.status == "deactivated" and not ctx.is_admin:
        raise APIError(
            403, "The requested image has been deactivated. Image data download is forbidden."
        )
    if (image.status != "active" and image.status != "deactivated") or not image.location:
        return Response(status_code=204)
    if not await store.exists(image.location):
        log.error("image %s is %s but its data is missing", image_id, image.status)
        raise APIError(503, f"Image data of {image_id} is not available.")
    headers = {"Content-Length": str(image.size or 0)}
    if image.checksum:
        headers["Content-MD5"] = image.checksum
    chunks: AsyncIterator[bytes] = store.read(image.location)
    return StreamingResponse(chunks, media_type=OCTET, headers=headers)
