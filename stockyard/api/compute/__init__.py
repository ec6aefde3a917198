"""Compute API v2.1 (Nova-compatible subset) under /compute.

This package's router aggregates one sub-router per resource, each served both at
``/compute/v2.1/...`` and, as Nova also accepts, at ``/compute/v2.1/{project_id}/...``.
The servers router is plugged in when its module exists, so the servers work lands
without editing this file.
"""

from fastapi import APIRouter, Depends

from stockyard.api.compute.aggregates import router as aggregates_router
from stockyard.api.compute.extensions import router as extensions_router
from stockyard.api.compute.external_events import router as external_events_router
from stockyard.api.compute.flavor_extras import router as flavor_extras_router
from stockyard.api.compute.flavors import router as flavors_router
from stockyard.api.compute.group_placement import router as group_placement_router
from stockyard.api.compute.groups import router as groups_router
from stockyard.api.compute.hosts import router as hosts_router
from stockyard.api.compute.hypervisors import router as hypervisors_router
from stockyard.api.compute.images import router as images_router
from stockyard.api.compute.interfaces import router as interfaces_router
from stockyard.api.compute.keypairs import router as keypairs_router
from stockyard.api.compute.migrations import router as migrations_router
from stockyard.api.compute.path_project import check_path_project
from stockyard.api.compute.quota_classes import router as quota_classes_router
from stockyard.api.compute.quotas import router as quotas_router
from stockyard.api.compute.security_group_rules import router as security_group_rules_router
from stockyard.api.compute.security_groups import router as security_groups_router
from stockyard.api.compute.services import router as services_router
from stockyard.api.compute.tenant_networks import router as tenant_networks_router
from stockyard.api.compute.usage import router as usage_router
from stockyard.api.compute.versions import list_versions
from stockyard.api.compute.versions import router as versions_router
from stockyard.api.compute.volume_attachments import router as volume_attachments_router
from stockyard.api.compute.zones import router as zones_router
from stockyard.api.deps import get_microversion

_SERVERS_MODULE = "stockyard.api.compute.servers"

_subs = [
    flavors_router,
    flavor_extras_router,
    keypairs_router,
    zones_router,
    aggregates_router,
    hypervisors_router,
    quotas_router,
    quota_classes_router,
    services_router,
    groups_router,
    group_placement_router,  # Stockyard extension: members' failure domains
    extensions_router,
    hosts_router,
    usage_router,
    migrations_router,
    external_events_router,
    images_router,
    volume_attachments_router,
    interfaces_router,
    security_groups_router,
    security_group_rules_router,
    tenant_networks_router,
]
try:
    from stockyard.api.compute.servers import router as servers_router
except ModuleNotFoundError as exc:  # the servers module is not there yet
    if exc.name != _SERVERS_MODULE:
        raise  # a missing dependency inside servers.py must not hide the servers API
else:
    # First: routes are matched in order, one regex per route, and the servers' are the
    # hot ones (a create walked ~200 routes before it, ~0.35 ms of CPU per match). None
    # of its routes matches another router's path and method (checked when moved).
    _subs.insert(0, servers_router)

router = APIRouter(prefix="/compute")
# "/compute" without the slash: an empty path is only allowed on the prefixed router.
router.add_api_route("", list_versions, methods=["GET"], include_in_schema=False)
router.include_router(versions_router)
# Every versioned route negotiates the microversion, so each response names it (and a bad
# header is refused) even where the body does not depend on it.
_negotiate = Depends(get_microversion)
for _sub in _subs:
    router.include_router(_sub, prefix="/v2.1", dependencies=[_negotiate])
# Registered after the plain routes so that these never shadow them.
for _sub in _subs:
    router.include_router(
        _sub,
        prefix="/v2.1/{path_project_id}",
        dependencies=[_negotiate, Depends(check_path_project)],
        include_in_schema=False,
    )

__all__ = ["router"]
