"""Helpers shared by the stock routes: error mapping and views."""

from __future__ import annotations

from typing import Any

from stockyard.api.errors import APIError
from stockyard.db.models import StockRequest
from stockyard.stock import StockConflict, StockError, StockInvalid, StockNotFound


def api_error(exc: StockError) -> APIError:
    if isinstance(exc, StockNotFound):
        return APIError(404, str(exc))
    if isinstance(exc, StockConflict):
        return APIError(409, str(exc))
    if isinstance(exc, StockInvalid):
        return APIError(400, str(exc))
    return APIError(400, str(exc))


def _ts(value: Any) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


def request_view(req: StockRequest) -> dict[str, Any]:
    return {
        "id": req.uuid,
        "project_id": req.project_id,
        "user_id": req.user_id,
        "resource_class": req.resource_class,
        "availability_zone": req.availability_zone,
        "region": req.region,
        "count": req.count,
        "min_racks": req.min_racks,
        "status": req.status,
        "reason": req.reason,
        "assigned_nodes": list(req.assigned_nodes or []),
        "created_at": _ts(req.created_at),
        "decided_at": _ts(req.decided_at),
        "decided_by": req.decided_by,
    }
