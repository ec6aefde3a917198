"""``POST /os-aggregates/{id}/images`` (2.81): pre-cache images on an aggregate's hosts.

Nova's order of checks: the body (``cache``: a non-empty list of ``{"id": <uuid>}``), the
aggregate id an integer (400), no image twice (400), the aggregate (404), every image
known (400). Then each host of the aggregate is sent a ``CacheImagesRequest`` on its
``compute.<host>`` topic and the API answers 202 without waiting: the hosts log what they
cached (``stockyard.compute.image_cache``).
"""

from __future__ import annotations

import logging
import uuid
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.api.compute.common import parse_body, row_id
from stockyard.api.errors import APIError
from stockyard.api.image.access import find_visible
from stockyard.bus import contract
from stockyard.bus.base import Bus
from stockyard.db.models import Aggregate, AggregateHost
from stockyard.identity.context import RequestContext

log = logging.getLogger(__name__)


class _ImageRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str

    @field_validator("id")
    @classmethod
    def _uuid(cls, value: str) -> str:
        try:
            uuid.UUID(value)
        except ValueError:
            raise ValueError(f"'{value}' is not a 'uuid'") from None
        return value


class CacheBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cache: Annotated[list[_ImageRef], Field(min_length=1)]


async def cache_images(
    session: AsyncSession,
    ctx: RequestContext,
    bus: Bus,
    aggregate_id: str,
    body: Any,
    request_id: str,
) -> list[str]:
    """Check the request, ask each host of the aggregate to cache; the hosts asked."""
    image_ids = [ref.id for ref in parse_body(CacheBody, body).cache]
    if not (aggregate_id.isascii() and aggregate_id.isdecimal()):
        raise APIError(400, "Invalid input received: id must be an integer")
    if len(set(image_ids)) != len(image_ids):
        raise APIError(400, "Duplicate images in request")
    key = row_id(aggregate_id)  # None: beyond any id, so unknown
    agg = await session.get(Aggregate, key) if key is not None else None
    if agg is None:
        raise APIError(404, f"Aggregate {aggregate_id} could not be found.")
    for image_id in image_ids:
        # Before any host is asked, as Nova's conductor API does.
        if await find_visible(session, ctx, image_id) is None:
            raise APIError(400, f"Image {image_id} could not be found.")
    agg_id = agg.id
    hosts = list(
        (
            await session.scalars(
                select(AggregateHost.host_name)
                .where(AggregateHost.aggregate_id == agg_id)
                .order_by(AggregateHost.id)
            )
        ).all()
    )
    await session.rollback()  # nothing to write: no transaction held while publishing
    message = contract.encode(
        contract.CacheImagesRequest(aggregate_id=agg_id, image_ids=image_ids, request_id=request_id)
    )
    for host in hosts:
        await bus.publish(contract.compute_topic(host), message)
    log.info(
        "asked %d host(s) of aggregate %s to cache image(s) %s",
        len(hosts),
        agg_id,
        ", ".join(image_ids),
    )
    return hosts
