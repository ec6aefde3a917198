"""Nova's ``/os-tenant-networks`` (deprecated; list and show removed at 2.36) over
Stockyard's Networking v2 networks, as Nova answers with Neutron: the networks the
caller sees (its own, shared and external; an admin all), each ``{id, cidr, label}``.

Nova with Neutron gives ``cidr`` as the string ``"None"`` (its nova-network past) and
answers create and delete with 410 Gone at every version.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from sqlalchemy import select

from stockyard.api.compute.removed import require_before
from stockyard.api.deps import Microversion, ProjectCtx, SessionDep
from stockyard.api.errors import APIError
from stockyard.db.models import Network
from stockyard.network import networks

router = APIRouter()

REMOVED_AT = "2.36"
GONE = "This resource is no longer available.  No forwarding address is given."


def _view(net: Network) -> dict[str, Any]:
    return {"id": net.id, "cidr": "None", "label": net.name}


@router.get("/os-tenant-networks")
async def list_networks(
    session: SessionDep, ctx: ProjectCtx, version: Microversion
) -> dict[str, Any]:
    require_before(version, REMOVED_AT)
    rows = await session.scalars(
        select(Network).where(networks.visible(ctx)).order_by(Network.created_at, Network.id)
    )
    return {"networks": [_view(n) for n in rows]}


@router.get("/os-tenant-networks/{network_id}")
async def show_network(
    network_id: str, session: SessionDep, ctx: ProjectCtx, version: Microversion
) -> dict[str, Any]:
    require_before(version, REMOVED_AT)
    net = await session.scalar(
        select(Network).where(Network.id == network_id, networks.visible(ctx))
    )
    if net is None:
        raise APIError(404, "Network not found")
    return {"network": _view(net)}


@router.post("/os-tenant-networks")
async def create_network(ctx: ProjectCtx) -> Response:
    raise APIError(410, GONE)


@router.delete("/os-tenant-networks/{network_id}")
async def delete_network(network_id: str, ctx: ProjectCtx) -> Response:
    raise APIError(410, GONE)
