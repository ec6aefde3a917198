"""Neutron's list queries on rendered resources: attribute filters, ``fields``,
sorting (``sort_key``/``sort_dir``) and pagination (``limit``, ``marker``,
``page_reverse``, ``<collection>_links``).

Applied to the caller's visible rows after rendering, so every attribute filters and
sorts exactly as shown (``router:external``, ``fixed_ips=ip_address=...``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request

from stockyard.network.errors import BadRequest, NotFound

CONTROL = {"fields", "limit", "marker", "page_reverse", "sort_key", "sort_dir"}


def _boolean(raw: str) -> bool:
    # Neutron converts a filter's value as the attribute's own (convert_to_boolean).
    text = raw.lower()
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    raise BadRequest(f"Invalid input for operation: '{raw}' cannot be converted to boolean.")


def _integer(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise BadRequest(f"Invalid input for operation: '{raw}' is not an integer.") from None


def _matches(value: Any, wanted: list[str]) -> bool:
    if isinstance(value, bool):
        return value in [_boolean(w) for w in wanted]
    if isinstance(value, int):
        return value in [_integer(w) for w in wanted]
    if isinstance(value, list):
        return any(_item_matches(item, w) for item in value for w in wanted)
    return ("" if value is None else str(value)) in wanted


def _item_matches(item: Any, wanted: str) -> bool:
    if isinstance(item, dict) and "=" in wanted:
        key, _, val = wanted.partition("=")
        # ip-substring-filtering: fixed_ips=ip_address_substr=10.0.0 matches any address
        # containing the text.
        if key == "ip_address_substr":
            return val in str(item.get("ip_address"))
        return str(item.get(key)) == val
    return str(item) == wanted


def _sort_value(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, "")
    if isinstance(value, bool | int | float):
        return (1, value)
    return (2, str(value))


def _by(key: str) -> Callable[[dict[str, Any]], tuple[int, Any]]:
    return lambda item: _sort_value(item.get(key))


def page(request: Request, collection: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    """The list body for ``items`` under the request's filters, sorting and paging."""
    query = request.query_params
    for key in {k for k in query if k not in CONTROL}:
        wanted = query.getlist(key)
        items = [i for i in items if key in i and _matches(i[key], wanted)]
    keys = query.getlist("sort_key")
    dirs = query.getlist("sort_dir")
    if dirs and len(dirs) != len(keys):
        raise BadRequest("The number of sort_keys and sort_dirs must be same")
    dirs = dirs or ["asc"] * len(keys)
    for key, direction in zip(keys, dirs, strict=True):
        if items and key not in items[0]:
            raise BadRequest(f"{key} is an invalid attribute for sort_keys")
        if direction not in ("asc", "desc"):
            raise BadRequest(f"{direction} is an invalid value for sort_dir")
    order = [*zip(keys, dirs, strict=True), ("id", "asc")]
    reverse_page = query.get("page_reverse", "false").lower() == "true"
    for key, direction in reversed(order):
        desc = (direction == "desc") != reverse_page
        items.sort(key=_by(key), reverse=desc)
    marker = query.get("marker")
    if marker is not None:
        ids = [i["id"] for i in items]
        if marker not in ids:
            raise NotFound(f"Marker {marker} could not be found.", type="MarkerNotFound")
        items = items[ids.index(marker) + 1 :]
    limit = _limit(query.get("limit"))
    if limit:
        items = items[:limit]
    if reverse_page:
        items.reverse()
    body: dict[str, Any] = {collection: [_fields(request, i) for i in items]}
    if limit:
        body[f"{collection}_links"] = _links(request, items, limit, reverse_page)
    return body


def _limit(raw: str | None) -> int:
    if raw is None:
        return 0
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"Limit must be an integer 0 or greater and not '{raw}'") from None
    if value < 0:
        raise BadRequest(f"Limit must be an integer 0 or greater and not '{raw}'")
    return value


def _links(
    request: Request, items: list[dict[str, Any]], limit: int, reverse: bool
) -> list[dict[str, str]]:
    links = []
    params = [
        (k, v) for k, v in request.query_params.multi_items() if k not in ("marker", "page_reverse")
    ]
    base = str(request.url.remove_query_params(list(request.query_params)))
    if items and not (len(items) < limit and not reverse):
        query = urlencode([*params, ("marker", items[-1]["id"])])
        links.append({"rel": "next", "href": f"{base}?{query}"})
    if items and not (len(items) < limit and reverse):
        query = urlencode([*params, ("marker", items[0]["id"]), ("page_reverse", "True")])
        links.append({"rel": "previous", "href": f"{base}?{query}"})
    return links


def _fields(request: Request, item: dict[str, Any]) -> dict[str, Any]:
    return select_fields(request, item)


def select_fields(request: Request, item: dict[str, Any]) -> dict[str, Any]:
    """Only the ``fields=`` asked for (all when none)."""
    wanted = request.query_params.getlist("fields")
    if not wanted:
        return item
    return {k: v for k, v in item.items() if k in wanted}


def prefilter(request: Request, columns: dict[str, Any]) -> list[Any]:
    """SQL conditions for the query's filters on plain string columns.

    An optimisation only: :func:`page` still applies every filter to the rendered items,
    so this narrows the rows loaded (a project's ports among a region's) without
    deciding anything on its own.
    """
    conditions = []
    for key, column in columns.items():
        values = request.query_params.getlist(key)
        if values:
            conditions.append(column.in_(values))
    return conditions
