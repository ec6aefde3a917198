"""Block Storage API v3 (Cinder-compatible) under ``/volume``.

Every resource router is served at ``/volume/v3/...`` and, as Cinder's catalog URLs
carry it, at ``/volume/v3/{project_id}/...``; each versioned route negotiates
``OpenStack-API-Version: volume 3.x``.
"""

from fastapi import APIRouter, Depends

from stockyard.api.volume.actions import router as actions_router
from stockyard.api.volume.attachments import router as attachments_router
from stockyard.api.volume.common import check_path_project
from stockyard.api.volume.extensions import router as extensions_router
from stockyard.api.volume.messages import router as messages_router
from stockyard.api.volume.metadata import router as metadata_router
from stockyard.api.volume.quota_classes import router as quota_classes_router
from stockyard.api.volume.quotas import router as quotas_router
from stockyard.api.volume.services import router as services_router
from stockyard.api.volume.snapshots import router as snapshots_router
from stockyard.api.volume.type_access import router as type_access_router
from stockyard.api.volume.types import router as types_router
from stockyard.api.volume.versions import list_versions, negotiate_dep
from stockyard.api.volume.versions import router as versions_router
from stockyard.api.volume.volumes import router as volumes_router

_subs = [
    volumes_router,
    actions_router,
    attachments_router,
    metadata_router,
    snapshots_router,
    types_router,
    type_access_router,
    quotas_router,
    quota_classes_router,
    messages_router,
    services_router,
    extensions_router,
]

router = APIRouter(prefix="/volume")
router.add_api_route("", list_versions, methods=["GET"], include_in_schema=False)
router.add_api_route("/", list_versions, methods=["GET"], include_in_schema=False)
router.include_router(versions_router)
_negotiate = Depends(negotiate_dep)
for _sub in _subs:
    router.include_router(_sub, prefix="/v3", dependencies=[_negotiate])
# After the plain routes, so that a project-less URL never matches as a project id.
for _sub in _subs:
    router.include_router(
        _sub,
        prefix="/v3/{path_project_id}",
        dependencies=[_negotiate, Depends(check_path_project)],
        include_in_schema=False,
    )

__all__ = ["router"]
