"""GET /v2/images: filters, sorting and marker paging as Glance does them.

Paging is keyset-based (``WHERE (sort keys) after (marker's keys)``), so a page costs the
same however deep it is. Nullable sort columns are compared through ``coalesce`` so that
rows with NULLs are neither skipped nor repeated across pages.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from sqlalchemy import (
    ColumnElement,
    SQLColumnExpression,
    and_,
    false,
    func,
    or_,
    select,
)

from stockyard.api.deps import ProjectCtx, SessionDep
from stockyard.api.errors import APIError
from stockyard.api.image.access import visible_clause
from stockyard.api.image.filters import filter_clauses, int_param
from stockyard.api.image.views import image_view
from stockyard.db.models import Image

router = APIRouter()

DEFAULT_LIMIT = 25  # Glance's limit_param_default
MAX_LIMIT = 1000  # Glance's api_limit_max

SORT_KEYS: dict[str, SQLColumnExpression[Any]] = {
    "name": func.coalesce(Image.name, ""),
    "status": Image.status,
    "container_format": func.coalesce(Image.container_format, ""),
    "disk_format": func.coalesce(Image.disk_format, ""),
    "size": func.coalesce(Image.size, -1),
    "virtual_size": func.coalesce(Image.virtual_size, -1),
    "id": Image.id,
    "created_at": Image.created_at,
    "updated_at": Image.updated_at,
    "min_disk": Image.min_disk,
    "min_ram": Image.min_ram,
    "visibility": Image.visibility,
    "owner": func.coalesce(Image.owner, ""),
}


def parse_sort(params: Any) -> list[tuple[str, str]]:
    """``sort=name:asc,created_at`` or ``sort_key``/``sort_dir`` (repeatable), Glance's two
    syntaxes; created_at desc by default, id appended as the tie-breaker."""
    keys: list[tuple[str, str]] = []
    if "sort" in params:
        if "sort_key" in params or "sort_dir" in params:
            raise APIError(400, "Query parameter 'sort' cannot be used with sort_key/sort_dir.")
        for part in params["sort"].split(","):
            key, _, direction = part.strip().partition(":")
            keys.append((key, direction or "desc"))
    else:
        names = params.getlist("sort_key") or ["created_at"]
        dirs = params.getlist("sort_dir") or ["desc"]
        if len(dirs) not in (1, len(names)):
            raise APIError(400, "Query parameter 'sort_dir': give one, or one per sort_key.")
        dirs = dirs * len(names) if len(dirs) == 1 else dirs
        keys = list(zip(names, dirs, strict=True))
    for key, direction in keys:
        if key not in SORT_KEYS:
            raise APIError(400, f"Invalid value for query parameter 'sort_key': {key!r}.")
        if direction not in ("asc", "desc"):
            raise APIError(400, f"Invalid value for query parameter 'sort_dir': {direction!r}.")
    if "id" not in {k for k, _ in keys}:
        keys.append(("id", keys[-1][1]))
    return keys


def after_marker(keys: Sequence[tuple[str, str]], marker: Sequence[Any]) -> ColumnElement[bool]:
    """Rows strictly after the marker row in the (key, direction) ordering."""
    ors: list[ColumnElement[bool]] = []
    for i, (key, direction) in enumerate(keys):
        col = SORT_KEYS[key]
        step = col > marker[i] if direction == "asc" else col < marker[i]
        ors.append(and_(*[SORT_KEYS[k] == marker[j] for j, (k, _) in enumerate(keys[:i])], step))
    return or_(*ors) if ors else false()


@router.get("/v2/images")
async def list_images(request: Request, session: SessionDep, ctx: ProjectCtx) -> dict[str, Any]:
    """Images ``ctx`` may see, one page at a time, with Glance's ``next`` link."""
    params = request.query_params
    limit = min(int_param("limit", params["limit"]), MAX_LIMIT) if "limit" in params else None
    page = limit if limit is not None else DEFAULT_LIMIT
    keys = parse_sort(params)
    clauses = filter_clauses(params, ctx)
    if "marker" in params:
        exprs = [SORT_KEYS[k] for k, _ in keys]
        row = (
            await session.execute(
                select(*exprs).where(Image.id == params["marker"], visible_clause(ctx))
            )
        ).one_or_none()
        if row is None:
            raise APIError(400, f"Marker not found: no image with ID {params['marker']}.")
        clauses.append(after_marker(keys, tuple(row)))
    order = [SORT_KEYS[k].asc() if d == "asc" else SORT_KEYS[k].desc() for k, d in keys]
    rows = (
        await session.scalars(select(Image).where(*clauses).order_by(*order).limit(page + 1))
    ).all()
    body: dict[str, Any] = {
        "images": [image_view(i) for i in rows[:page]],
        "first": "/v2/images",
        "schema": "/v2/schemas/images",
    }
    if page and len(rows) > page:
        # Relative, as Glance's: clients (openstacksdk) strip the '/v2' and rejoin it.
        query = [(k, v) for k, v in params.multi_items() if k not in ("marker", "limit")]
        query += [("marker", rows[page - 1].id), ("limit", str(page))]
        body["next"] = f"/v2/images?{urlencode(query)}"
    return body
