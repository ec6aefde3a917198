"""Version discovery at the root of the image endpoint, as Glance answers it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from stockyard.api.deps import StateDep

router = APIRouter()

# Glance lists every minor version it still serves; the href is the same for all.
CURRENT = "v2.9"
SUPPORTED = ("v2.8", "v2.7", "v2.6", "v2.5", "v2.4", "v2.3", "v2.2", "v2.1", "v2.0")


def versions_body(base_url: str) -> dict[str, Any]:
    href = f"{base_url}/image/v2/"
    entries = [(CURRENT, "CURRENT")] + [(v, "SUPPORTED") for v in SUPPORTED]
    return {
        "versions": [
            {"id": vid, "status": status, "links": [{"rel": "self", "href": href}]}
            for vid, status in entries
        ]
    }


@router.get("/")
async def root(state: StateDep) -> JSONResponse:
    """300 Multiple Choices with the versions, as Glance's root does."""
    return JSONResponse(versions_body(state.settings.base_url), status_code=300)


@router.get("/versions")
@router.get("/v2", include_in_schema=False)
@router.get("/v2/", include_in_schema=False)
async def versions(state: StateDep) -> dict[str, Any]:
    return versions_body(state.settings.base_url)
