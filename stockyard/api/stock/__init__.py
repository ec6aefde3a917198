"""Baremetal stock API under /stock/v1: counts, nodes, and the request/approve workflow.

Routes validate, authorise and render; the queries live in ``stockyard.stock``.
"""

from typing import Any

from fastapi import APIRouter

from stockyard.api.deps import StateDep
from stockyard.api.stock import enrol, hardware, nodes, requests

router = APIRouter(prefix="/stock")


@router.get("/v1", tags=["stock"], summary="Stock API version")
async def version(state: StateDep) -> dict[str, Any]:
    """The version document of the stock API (no authentication)."""
    base = state.settings.base_url.rstrip("/")
    return {
        "version": {
            "id": "v1",
            "status": "CURRENT",
            "links": [{"rel": "self", "href": f"{base}/stock/v1"}],
            "media-types": [{"base": "application/json", "type": "application/json"}],
        }
    }


for _module in (nodes, enrol, hardware, requests):
    router.include_router(_module.router)

__all__ = ["router"]
