"""Compute version discovery (no authentication), as Nova's ``GET /``, ``GET /v2.1`` and
the legacy ``GET /v2`` (Nova's v2.0 endpoint: no microversions, only its document here)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from stockyard.api.deps import StateDep
from stockyard.api.microversion import max_str, min_str

router = APIRouter()

_V21_UPDATED = "2013-07-23T11:33:21Z"
_V20_UPDATED = "2011-01-21T11:33:21Z"


def _version(base: str, vid: str) -> dict[str, Any]:
    current = vid == "v2.1"
    return {
        "id": vid,
        "status": "CURRENT" if current else "SUPPORTED",
        "version": max_str() if current else "",
        "min_version": min_str() if current else "",
        "updated": _V21_UPDATED if current else _V20_UPDATED,
        "links": [{"rel": "self", "href": f"{base}/compute/{'v2.1' if current else 'v2'}/"}],
        "media-types": [
            {"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2"}
        ],
    }


@router.get("/")
async def list_versions(state: StateDep) -> dict[str, Any]:
    """All API versions; v2.1 is the current one."""
    base = state.settings.base_url
    return {"versions": [_version(base, "v2.0"), _version(base, "v2.1")]}


@router.get("/v2.1/", include_in_schema=False)
@router.get("/v2.1")
async def show_version(state: StateDep) -> dict[str, Any]:
    """The v2.1 version document, with the microversion range."""
    return {"version": _version(state.settings.base_url, "v2.1")}


@router.get("/v2/", include_in_schema=False)
@router.get("/v2")
async def show_legacy_version(state: StateDep) -> dict[str, Any]:
    """The v2.0 version document the version list's v2.0 self link points at."""
    return {"version": _version(state.settings.base_url, "v2.0")}
