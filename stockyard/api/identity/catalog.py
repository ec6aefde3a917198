"""Read-only ``/v3/services``, ``/v3/endpoints`` and ``/v3/regions``, derived from the
same catalog builder as tokens (``stockyard.identity.catalog``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query

from stockyard.api.deps import AdminCtx, Ctx, StateDep
from stockyard.api.identity.route import identity_router
from stockyard.api.identity.views import collection_links, v3_url
from stockyard.identity.catalog import SERVICES, Endpoint, ServiceDef, endpoints, service_id
from stockyard.identity.errors import NotFound

router = identity_router()


def _service_view(base: str, svc: ServiceDef) -> dict[str, Any]:
    sid = service_id(svc)
    return {
        "id": sid,
        "type": svc.type,
        "name": svc.name,
        "description": svc.description,
        "enabled": True,
        "links": {"self": v3_url(base, f"services/{sid}")},
    }


def _endpoint_view(base: str, ep: Endpoint) -> dict[str, Any]:
    return {
        "id": ep.id,
        "interface": ep.interface,
        "region": ep.region,
        "region_id": ep.region,
        "service_id": service_id(ep.service),
        "url": ep.url,
        "enabled": True,
        "links": {"self": v3_url(base, f"endpoints/{ep.id}")},
    }


def _region_view(base: str, region: str) -> dict[str, Any]:
    return {
        "id": region,
        "description": "",
        "parent_region_id": None,
        "links": {"self": v3_url(base, f"regions/{region}")},
    }


@router.get("/v3/services")
async def list_services(ctx: AdminCtx, state: StateDep, type: str | None = None) -> dict[str, Any]:
    base = state.settings.base_url
    rows = [s for s in SERVICES if type is None or s.type == type]
    return {
        "services": [_service_view(base, s) for s in rows],
        "links": collection_links(base, "services"),
    }


@router.get("/v3/services/{sid}")
async def show_service(sid: str, ctx: AdminCtx, state: StateDep) -> dict[str, Any]:
    for svc in SERVICES:
        if service_id(svc) == sid:
            return {"service": _service_view(state.settings.base_url, svc)}
    raise NotFound(f"Could not find service: {sid}.")


@router.get("/v3/endpoints")
async def list_endpoints(
    ctx: AdminCtx,
    state: StateDep,
    interface: str | None = None,
    service_id_: Annotated[str | None, Query(alias="service_id")] = None,
    region_id: str | None = None,
) -> dict[str, Any]:
    base = state.settings.base_url
    rows = [
        ep
        for ep in endpoints(base, state.regions)
        if (interface is None or ep.interface == interface)
        and (service_id_ is None or service_id(ep.service) == service_id_)
        and (region_id is None or ep.region == region_id)
    ]
    return {
        "endpoints": [_endpoint_view(base, ep) for ep in rows],
        "links": collection_links(base, "endpoints"),
    }


@router.get("/v3/endpoints/{eid}")
async def show_endpoint(eid: str, ctx: AdminCtx, state: StateDep) -> dict[str, Any]:
    base = state.settings.base_url
    for ep in endpoints(base, state.regions):
        if ep.id == eid:
            return {"endpoint": _endpoint_view(base, ep)}
    raise NotFound(f"Could not find endpoint: {eid}.")


@router.get("/v3/regions")
async def list_regions(ctx: Ctx, state: StateDep) -> dict[str, Any]:
    base = state.settings.base_url
    return {
        "regions": [_region_view(base, r) for r in state.regions],
        "links": collection_links(base, "regions"),
    }


@router.get("/v3/regions/{region_id}")
async def show_region(region_id: str, ctx: Ctx, state: StateDep) -> dict[str, Any]:
    if region_id not in state.regions:
        raise NotFound(f"Could not find region: {region_id}.")
    return {"region": _region_view(state.settings.base_url, region_id)}
