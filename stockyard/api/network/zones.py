"""/v2.0/availability_zones: the zones network hints may name (the hosts' zones)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import select

from stockyard.api.deps import Ctx, SessionDep
from stockyard.api.network.errors import NeutronRoute
from stockyard.api.network.listing import page
from stockyard.db.models import Host

router = APIRouter(route_class=NeutronRoute)


@router.get("/v2.0/availability_zones")
async def list_zones(request: Request, session: SessionDep, ctx: Ctx) -> dict[str, Any]:
    zones = sorted(set(await session.scalars(select(Host.az).distinct())))
    items = [
        {"id": zone, "name": zone, "resource": "network", "state": "available"} for zone in zones
    ]
    body = page(request, "availability_zones", items)
    # Neutron's zones have no id; it is only the sort and marker key here.
    for zone in body["availability_zones"]:
        zone.pop("id", None)
    return body
