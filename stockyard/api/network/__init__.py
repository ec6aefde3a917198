"""Networking API v2.0 (Neutron-compatible) under /network.

One module per resource, each with its own router, gathered here; every route uses
:class:`NeutronRoute` so errors carry Neutron's body.
"""

from fastapi import APIRouter

from stockyard.api.network import networks, ports, quotas, secgroups, subnets, versions, zones
from stockyard.api.network.errors import NeutronRoute

router = APIRouter(prefix="/network", route_class=NeutronRoute)
router.add_api_route("", versions.root, methods=["GET"], include_in_schema=False)
for _module in (versions, networks, subnets, ports, secgroups, quotas, zones):
    router.include_router(_module.router)

__all__ = ["router"]
