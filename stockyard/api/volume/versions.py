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
# The highest version whose behaviour is implemented:
#   3.1   os-volume_upload_image takes visibility and protected: that action is not
#         served at any version yet (volume to image comes with the image slice)
#   3.2   bootable filter in volume list
#   3.3   user messages (/messages), derived from the rows' error reasons
# Not raised further: each later version announces an API or a shape a client then
# relies on. What the next ones need:
#   3.4   glance_metadata filter in volume list
#   3.7   cluster_name in os-services
#   3.12  GET /volumes/summary
#   3.13  groups (and group_id in volume detail)
#   3.21  provider_id in volume and snapshot detail for admins
#   3.27  the attachments API (next slice, with Nova's os-volume_attachments)
#   3.41  user_id in snapshot show; 3.48 shared_targets/service_uuid; 3.63 volume_type_id
# Routes without {project_id} are served at every version, as Cinder does (3.67 only
# announces that).
MAX_VERSION = APIVersion(3, 3)
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
