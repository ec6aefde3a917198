"""Query filters of GET /v2/images, with Glance's syntax.

``name=in:a,b`` (also for id, status, owner and the formats), ``created_at=gte:<iso
time>`` (gt, gte, lt, lte, eq, neq; also updated_at), ``tag`` repeatable, and any
parameter that is not a known one filters on the custom property of that name.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, String, cast, or_

from stockyard.api.errors import APIError
from stockyard.api.image.access import member_clause
from stockyard.db.models import Image
from stockyard.identity.context import RequestContext

EQUALITY_FILTERS = {
    "name": Image.name,
    "status": Image.status,
    "owner": Image.owner,
    "disk_format": Image.disk_format,
    "container_format": Image.container_format,
    "id": Image.id,
    "checksum": Image.checksum,
    "os_hash_algo": Image.os_hash_algo,
    "os_hash_value": Image.os_hash_value,
}
# Integer columns Glance filters on by equality (any column of its images table is).
INT_FILTERS = {
    "size": Image.size,
    "virtual_size": Image.virtual_size,
    "min_disk": Image.min_disk,
    "min_ram": Image.min_ram,
}
TIME_FILTERS = {"created_at": Image.created_at, "updated_at": Image.updated_at}
# Parameters that are not property filters.
KNOWN = frozenset(
    {
        *EQUALITY_FILTERS,
        *TIME_FILTERS,
        *INT_FILTERS,
        "limit",
        "marker",
        "sort",
        "sort_key",
        "sort_dir",
        "visibility",
        "os_hidden",
        "protected",
        "size_min",
        "size_max",
        "tag",
        "member_status",
    }
)
TIME_OPS = ("gt", "gte", "lt", "lte", "eq", "neq")
MEMBER_STATUSES = ("pending", "accepted", "rejected", "all")
_DB_INT_MAX = 2**63 - 1  # the largest integer SQLite and PostgreSQL BIGINT store


def int_param(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise APIError(400, f"Invalid value for query parameter '{name}': {raw!r}.") from None
    if value < 0:
        raise APIError(400, f"Invalid value for query parameter '{name}': must be >= 0.")
    # A size beyond what the database stores filters like the largest one it does (Glance's
    # bigint column compares it instead of failing); limit is capped further by its caller.
    return min(value, _DB_INT_MAX)


def bool_param(name: str, raw: str) -> bool:
    lowered = raw.lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise APIError(400, f"Invalid value for query parameter '{name}': {raw!r} is not a boolean.")


def _time_clause(name: str, raw: str) -> ColumnElement[bool]:
    op, sep, value = raw.partition(":")
    if not sep or op not in TIME_OPS:
        op, value = "eq", raw
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise APIError(
            400, f"Invalid value for query parameter '{name}': {raw!r} is not a timestamp."
        ) from None
    if when.tzinfo is not None:
        when = when.astimezone(UTC).replace(tzinfo=None)
    col = TIME_FILTERS[name]
    clauses = {
        "gt": col > when,
        "gte": col >= when,
        "lt": col < when,
        "lte": col <= when,
        "eq": col == when,
        "neq": col != when,
    }
    return clauses[op]


def _visibility_clauses(params: Any, ctx: RequestContext) -> list[ColumnElement[bool]]:
    """Glance's ``_select_images_query``: public, community, own, and the shared images
    whose membership has ``member_status`` (accepted unless asked); admins see all."""
    visibility = params.get("visibility")
    if visibility not in (None, "all", "public", "private", "shared", "community"):
        raise APIError(400, f"Invalid value for query parameter 'visibility': {visibility!r}.")
    member_status = params.get("member_status", "accepted")
    if member_status not in MEMBER_STATUSES:
        raise APIError(400, f"Invalid status: {member_status}")
    clauses: list[ColumnElement[bool]] = []
    if visibility not in (None, "all"):
        clauses.append(Image.visibility == visibility)
    if ctx.is_admin:
        return clauses
    if visibility is None:
        # Community images show only when asked for, unless they are one's own.
        clauses.append(or_(Image.visibility != "community", Image.owner == ctx.project_id))
    status = None if member_status == "all" else member_status
    clauses.append(
        or_(
            Image.visibility.in_(("public", "community")),
            Image.owner == ctx.project_id,
            member_clause(ctx, status),
        )
    )
    return clauses


def filter_clauses(params: Any, ctx: RequestContext) -> list[ColumnElement[bool]]:
    """Visibility, hidden, attribute and property filters for ``ctx``."""
    clauses = _visibility_clauses(params, ctx)
    hidden = params.get("os_hidden")
    clauses.append(Image.os_hidden.is_(bool_param("os_hidden", hidden) if hidden else False))
    for name, column in EQUALITY_FILTERS.items():
        if name in params:
            value = params[name]
            if value.startswith("in:"):
                clauses.append(column.in_([v.strip('"') for v in value[3:].split(",")]))
            else:
                clauses.append(column == value)
    for name, int_column in INT_FILTERS.items():
        if name in params:
            clauses.append(int_column == int_param(name, params[name]))
    for name in TIME_FILTERS:
        if name in params:
            clauses.append(_time_clause(name, params[name]))
    if "protected" in params:
        clauses.append(Image.protected.is_(bool_param("protected", params["protected"])))
    if "size_min" in params:
        clauses.append(Image.size >= int_param("size_min", params["size_min"]))
    if "size_max" in params:
        clauses.append(Image.size <= int_param("size_max", params["size_max"]))
    for tag in params.getlist("tag"):
        # Tags live in a JSON list; a quoted match works the same on every backend.
        quoted = '"' + tag.replace("\\", "\\\\").replace('"', '\\"') + '"'
        clauses.append(cast(Image.tags, String).contains(quoted, autoescape=True))
    for name, value in params.multi_items():
        if name not in KNOWN:
            clauses.append(Image.properties[name].as_string() == value)
    return clauses
