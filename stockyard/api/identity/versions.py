"""Version discovery: ``/identity`` lists v3, ``/identity/v3`` describes it.

``/identity`` answers 300 Multiple Choices, as Keystone does; keystoneauth, the SDK and
gophercloud all read the body of a 300.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from stockyard.api.deps import StateDep

router = APIRouter()

VERSION_ID = "v3.14"
UPDATED = "2020-04-07T00:00:00Z"
MEDIA_TYPES = [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}]


def version_body(base_url: str) -> dict[str, Any]:
    return {
        "id": VERSION_ID,
        "status": "stable",
        "updated": UPDATED,
        "links": [{"rel": "self", "href": f"{base_url}/identity/v3/"}],
        "media-types": MEDIA_TYPES,
    }


@router.get("", include_in_schema=False)
@router.get("/")
async def versions(state: StateDep) -> JSONResponse:
    """Every identity API version (only v3)."""
    body = {"versions": {"values": [version_body(state.settings.base_url)]}}
    return JSONResponse(body, status_code=300)


@router.get("/v3", include_in_schema=False)
@router.get("/v3/")
async def version_v3(state: StateDep) -> dict[str, Any]:
    """The v3 API's version document."""
    return {"version": version_body(state.settings.base_url)}
