"""``os-migrations`` (admin): the migrations of instances between hosts.

Stockyard cannot move an instance yet (no resize, cold or live migration, evacuate), so
there is no migration record to show: the list is empty, and a marker can never name
one. The query parameters are still checked as Nova's schema for the request's
microversion checks them, so a client learns about a bad request now, not later.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request

from stockyard.api.compute.common import parse_limit
from stockyard.api.deps import AdminCtx, Microversion
from stockyard.api.errors import APIError
from stockyard.api.microversion import APIVersion

router = APIRouter()

_BASE_PARAMS = {"hidden", "host", "instance_uuid", "source_compute", "status", "migration_type"}
_PAGING_PARAMS = {"limit", "marker", "changes-since"}  # 2.59
_OWNER_PARAMS = {"user_id", "project_id"}  # 2.80


def _time(name: str, raw: str) -> datetime:
    """An ISO 8601 time; one without an offset is UTC, as Nova reads it."""
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise APIError(
            400, f"Invalid input for query parameters {name}. Value: {raw}. Not a date-time."
        ) from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _check_query(request: Request, version: APIVersion) -> None:
    """Nova's list query schema: before 2.59 anything goes; from 2.59 only the known
    parameters, a non-negative limit, ISO 8601 times; from 2.66 ``changes-before``; from
    2.80 ``user_id`` and ``project_id`` (the owner of the migrated server; 2.80 also adds
    both to each migration, which an empty list has none of)."""
    if not version.at_least("2.59"):
        return
    params = request.query_params
    allowed = _BASE_PARAMS | _PAGING_PARAMS
    if version.at_least("2.66"):
        allowed = allowed | {"changes-before"}
    if version.at_least("2.80"):
        allowed = allowed | _OWNER_PARAMS
    for key in sorted(set(params) - allowed):
        raise APIError(
            400,
            f"Invalid input for query parameters {key}. Additional properties are not allowed.",
        )
    parse_limit(params.get("limit"))
    since = params.get("changes-since")
    before = params.get("changes-before")
    since_at = _time("changes-since", since) if since is not None else None
    before_at = _time("changes-before", before) if before is not None else None
    if since_at is not None and before_at is not None and before_at < since_at:
        raise APIError(
            400, "The value of changes-since must be less than or equal to changes-before."
        )
    marker = params.get("marker")
    if marker is not None:
        raise APIError(400, f"Marker {marker} could not be found.")


@router.get("/os-migrations")
async def list_migrations(request: Request, ctx: AdminCtx, version: Microversion) -> dict[str, Any]:
    """Every migration matching the filters: none, as nothing migrates (see above)."""
    _check_query(request, version)
    return {"migrations": []}
