"""Host aggregates (admin only): CRUD plus ``add_host``, ``remove_host``, ``set_metadata``.

An aggregate's ``availability_zone`` is kept in its column and shown in its metadata as
Nova does; a host never sits in two aggregates with different zones.

An aggregate with ``stockyard:failure_domain=rack`` metadata is a rack: its hosts' rack and
zone follow it (``stockyard.api.compute.racks``). The bodies stay Nova's.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.api.compute.aggregate_images import cache_images
from stockyard.api.compute.common import commit_or_conflict, iso, parse_body, row_id
from stockyard.api.compute.racks import check_rack, check_rack_host, place_hosts, rack_of
from stockyard.api.compute.server_common import request_id
from stockyard.api.deletes import delete_or_404
from stockyard.api.deps import AdminCtx, Microversion, SessionDep, StateDep
from stockyard.api.errors import APIError
from stockyard.api.microversion import APIVersion
from stockyard.db.base import utcnow
from stockyard.db.models import Aggregate, AggregateHost, Host

router = APIRouter()

Name = Annotated[str, Field(min_length=1, max_length=255)]


class AggregateCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    availability_zone: Name | None = None


class AggregateUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name | None = None
    availability_zone: Name | None = None


class CreateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    aggregate: AggregateCreate


class UpdateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    aggregate: AggregateUpdate


class HostArg(BaseModel):
    model_config = ConfigDict(extra="forbid")
    host: Name


class MetadataArg(BaseModel):
    model_config = ConfigDict(extra="forbid")
    metadata: dict[Name, Annotated[str, Field(max_length=255)] | None]


class ActionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    add_host: HostArg | None = None
    remove_host: HostArg | None = None
    set_metadata: MetadataArg | None = None


async def _hosts(session: AsyncSession, agg: Aggregate) -> list[str]:
    rows = await session.scalars(
        select(AggregateHost.host_name)
        .where(AggregateHost.aggregate_id == agg.id)
        .order_by(AggregateHost.id)
    )
    return list(rows.all())


def _view(agg: Aggregate, version: APIVersion, hosts: list[str] | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": agg.id,
        "name": agg.name,
        "availability_zone": agg.availability_zone,
        "created_at": iso(agg.created_at),
        "updated_at": iso(agg.updated_at),
        "deleted_at": None,
        "deleted": False,
    }
    if hosts is not None:
        metadata = dict(agg.extra or {})
        if agg.availability_zone:
            metadata["availability_zone"] = agg.availability_zone
        body["hosts"] = hosts
        body["metadata"] = metadata
    if version.at_least("2.41"):
        body["uuid"] = agg.uuid
    return body


async def _full(session: AsyncSession, agg: Aggregate, version: APIVersion) -> dict[str, Any]:
    return {"aggregate": _view(agg, version, await _hosts(session, agg))}


async def _get(session: AsyncSession, aggregate_id: str) -> Aggregate:
    agg: Aggregate | None = None
    key = row_id(aggregate_id)
    if key is not None:
        agg = await session.get(Aggregate, key)
    if agg is None:
        raise APIError(404, _not_found(aggregate_id))
    return agg


def _not_found(aggregate_id: str) -> str:
    return f"Aggregate {aggregate_id} could not be found."


async def _check_name_free(session: AsyncSession, name: str, own_id: int | None) -> None:
    other = await session.scalar(select(Aggregate.id).where(Aggregate.name == name))
    if other is not None and other != own_id:
        raise APIError(409, f"Aggregate {name} already exists.")


async def _zone_conflicts(
    session: AsyncSession, hosts: list[str], zone: str | None, own_id: int
) -> list[str]:
    """Zones other than ``zone`` that these hosts already have through other aggregates."""
    if not zone or not hosts:
        return []
    rows = await session.scalars(
        select(Aggregate.availability_zone)
        .join(AggregateHost, Aggregate.id == AggregateHost.aggregate_id)
        .where(
            AggregateHost.host_name.in_(hosts),
            Aggregate.id != own_id,
            Aggregate.availability_zone.is_not(None),
            Aggregate.availability_zone != zone,
        )
    )
    return sorted({z for z in rows.all() if z})


async def _set_zone(session: AsyncSession, agg: Aggregate, zone: str | None, status: int) -> None:
    conflicts = await _zone_conflicts(session, await _hosts(session, agg), zone, agg.id)
    if conflicts:
        raise APIError(
            status,
            f"Cannot update aggregate {agg.id}. Reason: One or more hosts already in "
            f"availability zone(s) {conflicts}.",
        )
    agg.availability_zone = zone


async def _apply_rack(
    session: AsyncSession, agg: Aggregate, metadata: dict[str, Any], zone: str | None
) -> None:
    """Check ``agg`` as a rack with this metadata and zone; its hosts follow the rack."""
    hosts = await _hosts(session, agg)
    rack = await check_rack(session, agg, metadata, zone, hosts)
    if rack is not None:
        await place_hosts(session, rack, hosts)


@router.get("/os-aggregates")
async def list_aggregates(
    session: SessionDep, ctx: AdminCtx, version: Microversion
) -> dict[str, Any]:
    aggs = (await session.scalars(select(Aggregate).order_by(Aggregate.id))).all()
    members: dict[int, list[str]] = {a.id: [] for a in aggs}
    for agg_id, host in (
        await session.execute(
            select(AggregateHost.aggregate_id, AggregateHost.host_name).order_by(AggregateHost.id)
        )
    ).all():
        members.setdefault(agg_id, []).append(host)
    return {"aggregates": [_view(a, version, members[a.id]) for a in aggs]}


@router.post("/os-aggregates")
async def create_aggregate(
    session: SessionDep,
    ctx: AdminCtx,
    version: Microversion,
    body: Annotated[Any, Body()] = None,
) -> dict[str, Any]:
    req = parse_body(CreateBody, body).aggregate
    await _check_name_free(session, req.name, None)
    agg = Aggregate(name=req.name, availability_zone=req.availability_zone, extra={})
    session.add(agg)
    await commit_or_conflict(session, f"Aggregate {req.name} already exists.")
    return {"aggregate": _view(agg, version, None)}


@router.get("/os-aggregates/{aggregate_id}")
async def show_aggregate(
    aggregate_id: str, session: SessionDep, ctx: AdminCtx, version: Microversion
) -> dict[str, Any]:
    return await _full(session, await _get(session, aggregate_id), version)


@router.put("/os-aggregates/{aggregate_id}")
async def update_aggregate(
    aggregate_id: str,
    session: SessionDep,
    ctx: AdminCtx,
    version: Microversion,
    body: Annotated[Any, Body()] = None,
) -> dict[str, Any]:
    req = parse_body(UpdateBody, body).aggregate
    if not req.model_fields_set:
        raise APIError(
            400,
            "Invalid input for field/attribute aggregate: name or availability_zone is required.",
        )
    agg = await _get(session, aggregate_id)
    if req.name is not None:
        await _check_name_free(session, req.name, agg.id)
        agg.name = req.name
    if "availability_zone" in req.model_fields_set:
        await _apply_rack(session, agg, dict(agg.extra or {}), req.availability_zone)
        await _set_zone(session, agg, req.availability_zone, 400)
    agg.updated_at = utcnow()
    result = await _full(session, agg, version)
    await session.commit()
    return result


@router.delete("/os-aggregates/{aggregate_id}")
async def delete_aggregate(aggregate_id: str, session: SessionDep, ctx: AdminCtx) -> Response:
    agg = await _get(session, aggregate_id)
    if await _hosts(session, agg):
        raise APIError(
            409, f"Cannot delete aggregate {aggregate_id}. Reason: Host list is not empty."
        )
    await delete_or_404(session, agg, _not_found(aggregate_id))
    await session.commit()
    return Response(status_code=200)


@router.post("/os-aggregates/{aggregate_id}/action")
async def aggregate_action(
    aggregate_id: str,
    session: SessionDep,
    ctx: AdminCtx,
    version: Microversion,
    body: Annotated[Any, Body()] = None,
) -> dict[str, Any]:
    """``add_host``, ``remove_host`` or ``set_metadata``; the aggregate is returned."""
    req = parse_body(ActionBody, body)
    if len(req.model_fields_set) != 1:
        raise APIError(400, "Exactly one of add_host, remove_host, set_metadata is required.")
    agg = await _get(session, aggregate_id)
    if req.add_host is not None:
        await _add_host(session, agg, req.add_host.host)
    elif req.remove_host is not None:
        await _remove_host(session, agg, req.remove_host.host)
    elif req.set_metadata is not None:
        await _set_metadata(session, agg, req.set_metadata.metadata)
    await session.flush()
    result = await _full(session, agg, version)
    await session.commit()
    return result


@router.post("/os-aggregates/{aggregate_id}/images")
async def aggregate_images(
    aggregate_id: str,
    request: Request,
    state: StateDep,
    session: SessionDep,
    ctx: AdminCtx,
    version: Microversion,
    body: Annotated[Any, Body()] = None,
) -> Response:
    """2.81: ask the aggregate's hosts to pre-cache images; 202, nobody waits."""
    if not version.at_least("2.81"):
        raise APIError(404, "The resource could not be found.")
    await cache_images(session, ctx, state.bus, aggregate_id, body, request_id(request))
    return Response(status_code=202)


async def _require_host(session: AsyncSession, name: str) -> None:
    if await session.scalar(select(Host.id).where(Host.name == name)) is None:
        raise APIError(404, f"Compute host {name} could not be found.")


async def _add_host(session: AsyncSession, agg: Aggregate, host: str) -> None:
    await _require_host(session, host)
    if host in await _hosts(session, agg):
        raise APIError(409, f"Aggregate {agg.id} already has host {host}.")
    conflicts = await _zone_conflicts(session, [host], agg.availability_zone, agg.id)
    if conflicts:
        raise APIError(
            409,
            f"Cannot add host to aggregate {agg.id}. Reason: One or more hosts already in "
            f"availability zone(s) {conflicts}.",
        )
    rack = rack_of(agg)
    if rack is not None:
        # An operator places a host in a rack: the scheduler's data follows.
        await check_rack_host(session, agg, rack, host)
        await place_hosts(session, rack, [host])
    session.add(AggregateHost(aggregate_id=agg.id, host_name=host))
    agg.updated_at = utcnow()


async def _remove_host(session: AsyncSession, agg: Aggregate, host: str) -> None:
    await _require_host(session, host)
    row = await session.scalar(
        select(AggregateHost).where(
            AggregateHost.aggregate_id == agg.id, AggregateHost.host_name == host
        )
    )
    missing = f"Cannot remove host {host} in aggregate {agg.id}: not found."
    if row is None:
        raise APIError(404, missing)
    await delete_or_404(session, row, missing)
    agg.updated_at = utcnow()


async def _set_metadata(
    session: AsyncSession, agg: Aggregate, metadata: dict[str, str | None]
) -> None:
    extra = dict(agg.extra or {})
    zone = agg.availability_zone
    for key, value in metadata.items():
        if key == "availability_zone":
            zone = value or None
        elif value is None:
            extra.pop(key, None)
        else:
            extra[key] = value
    # Checked as a whole: a rack's keys come in one call (or its failure_domain last).
    await _apply_rack(session, agg, extra, zone)
    if "availability_zone" in metadata:
        await _set_zone(session, agg, zone, 400)
    agg.extra = extra
    agg.updated_at = utcnow()
