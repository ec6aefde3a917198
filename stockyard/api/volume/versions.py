"""Block Storage microversions (``OpenStack-API-Version: volume 3.x``) and the version
documents at ``/volume/`` and ``/volume/v3/``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from stockyard.api.deps import StateDep
from stockyard.api.errors import APIError
from stockyard.api.microversion import APIVersion

MIN_VERSION = APIVersion(3, 0)
# What each version is here. "Not served" are APIs of features this cloud does not run
# (backups, generic groups, manage/unmanage, replication, log levels): their routes
# answer 404 at every version, as Cinder's do when the service behind them is absent.
#   3.1   os-volume_upload_image's visibility/protected: the action is not served
#   3.2   bootable filter in volume list
#   3.3   user messages (/messages)
#   3.4   glance_metadata filter in volume list (the volumes whose image metadata
#         holds every given key and value)
#   3.5   messages paging: served (limit, marker, sort) at every version
#   3.6   consistency group update: not served
#   3.7   cluster (null, no clusters) in os-services
#   3.8   manageable volume lists: not served
#   3.9   backup update: not served
#   3.10  group_id filter in volume list (no groups: matches none)
#   3.11  group types: not served
#   3.12  GET /volumes/summary
#   3.13  group_id (null) in volume detail; groups API not served
#   3.14  group snapshots: not served
#   3.15  ETags on volume metadata: If-Match is not required, none sent
#   3.16-3.20  migrate/manage to cluster, backup project, group reset: not served
#   3.21  provider_id (null) in volume detail for admins
#   3.22  metadata filter in snapshot list
#   3.23  DELETE /volumes/{id}?force=true (admin)
#   3.24  workers cleanup: not served
#   3.25  volumes in group detail: not served
#   3.26  replication failover of clusters: not served
#   3.27  the attachments API (create/show/list/update/delete)
#   3.28  pool filter in scheduler-stats: not served
#   3.29  group snapshot paging: not served
#   3.30  snapshot list sorted by name
#   3.31  filters validated against resource_filters: unknown filters are ignored, as
#         with an empty resource filter file
#   3.32  log levels: not served
#   3.33  resource_filters API: not served
#   3.34  "~" (like) filters on name, status, availability_zone in volume list
#   3.35  volume_type filter (pool) in get-pools: not served
#   3.36  metadata in volume summary
#   3.37  backup sort by name: not served
#   3.38  group replication: not served
#   3.39  project_id in limits for admins: limits stay the caller's
#   3.40  revert to snapshot: not served (os-revert answers "no such action")
#   3.41  user_id in snapshot show and list
#   3.42  extend of in-use volumes: refused (400) as no backend here grows online
#   3.43  backup metadata: not served
#   3.44  os-complete on an attachment
# What the next ones need: 3.45 count in lists, 3.46 Nova image volumes, 3.48
# shared_targets/service_uuid, 3.50 multiattach, 3.54 attachment mode argument.
# Routes without {project_id} are served at every version, as Cinder does (3.67 only
# announces that).
MAX_VERSION = APIVersion(3, 44)
UPDATED = "2026-12-06T00:00:00Z"


def _requested(request: Request) -> str | None:
    header = request.headers.get("openstack-api-version")
    if header:
        for item in header.split(","):
            parts = item.strip().split()
            if len(parts) == 2 and parts[0].lower() == "volume":
                return parts[1]
    return None


def negotiate(request: Request) -> APIVersion:
    """The version this request runs at (also recorded for the response header);
    400 for a malformed header, 406 for a version outside MIN..MAX."""
    raw = _requested(request)
    version = MIN_VERSION
    if raw is not None:
        raw = raw.strip().lower()
        if raw == "latest":
            version = MAX_VERSION
        else:
            try:
                major, minor = raw.split(".")
                version = APIVersion(int(major), int(minor))
            except ValueError:
                raise APIError(400, f"Invalid API version string {raw}.") from None
            if not (MIN_VERSION <= version <= MAX_VERSION):
                raise APIError(
                    406,
                    f"Version {raw} is not supported by the API. Minimum is {MIN_VERSION} "
                    f"and maximum is {MAX_VERSION}.",
                )
    request.state.volume_microversion = version
    return version


async def negotiate_dep(request: Request) -> APIVersion:
    """:func:`negotiate` as a dependency (async: a plain def one runs in the thread pool)."""
    return negotiate(request)


def version_entry(base_url: str) -> dict[str, Any]:
    return {
        "id": "v3.0",
        "status": "CURRENT",
        "version": str(MAX_VERSION),
        "min_version": str(MIN_VERSION),
        "updated": UPDATED,
        "links": [
            {"href": f"{base_url}/volume/v3/", "rel": "self"},
            {"href": "https://docs.openstack.org/", "type": "text/html", "rel": "describedby"},
        ],
        "media-types": [
            {"base": "application/json", "type": "application/vnd.openstack.volume+json;version=3"}
        ],
    }


router = APIRouter()


async def list_versions(state: StateDep) -> JSONResponse:
    """``GET /volume/``: Cinder answers 300 Multiple Choices with every version."""
    return JSONResponse({"versions": [version_entry(state.settings.base_url)]}, status_code=300)


@router.get("/v3/", include_in_schema=False)
@router.get("/v3", include_in_schema=False)
async def show_v3(state: StateDep, request: Request) -> JSONResponse:
    """``GET /volume/v3/``: the v3 document (``versions``, as Cinder renders it)."""
    version = negotiate(request)
    return JSONResponse(
        {"versions": [version_entry(state.settings.base_url)]},
        headers={"OpenStack-API-Version": f"volume {version}", "Vary": "OpenStack-API-Version"},
    )
