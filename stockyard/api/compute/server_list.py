"""``GET /servers`` and ``/servers/detail``: the query, its batched lookups, the bodies.

A page of 1,000 servers must answer in well under 100 ms on 2 cores, so the list avoids
what a single show can afford: it selects only the columns the bodies read (no
``network_info``, ``scheduler_hints``, ``key_data``...), runs as a Core statement (plain
rows, no ORM loading), decodes each distinct JSON text once (most servers share their
flavor snapshot, ``{}`` metadata and ``[]`` tags) and builds one flavor body per distinct
snapshot. Faults, attached volumes and host statuses are one query each per page. The
bodies are :func:`server_detail`'s, so the list and show cannot drift apart.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

import orjson
from sqlalchemy import Text, TypeDecorator, false, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from starlette.datastructures import QueryParams

from stockyard.api.compute.secgroup_views import server_security_groups
from stockyard.api.compute.server_common import latest_faults, server_host_statuses
from stockyard.api.compute.server_filters import apply_column_filters
from stockyard.api.compute.server_views import ViewContext, flavor_view, server_brief, server_detail
from stockyard.api.compute.volume_attachments import volumes_attached
from stockyard.api.errors import APIError
from stockyard.api.responses import gc_paused
from stockyard.db.models import Instance
from stockyard.identity.context import RequestContext
from stockyard.lifecycle.states import VmState

_STATUS_TO_VM = {
    "ACTIVE": [VmState.ACTIVE.value],
    "BUILD": [VmState.BUILDING.value],
    "SHUTOFF": [VmState.STOPPED.value],
    "ERROR": [VmState.ERROR.value],
    "DELETED": [VmState.DELETED.value],
    "REBOOT": [VmState.ACTIVE.value],
    "HARD_REBOOT": [VmState.ACTIVE.value],
    "REBUILD": [VmState.ACTIVE.value, VmState.STOPPED.value, VmState.ERROR.value],
}
_SORT_KEYS: dict[str, InstrumentedAttribute[Any]] = {
    "created_at": Instance.created_at,
    "updated_at": Instance.updated_at,
    "display_name": Instance.name,
    "uuid": Instance.uuid,
    "vm_state": Instance.vm_state,
}


@lru_cache(maxsize=4096)
def _loads(text: str) -> Any:
    return json.loads(text)


class _SharedJSON(TypeDecorator[Any]):
    """A JSON column read as text and decoded once per distinct text (LRU).

    The decoded values are shared between rows and requests: only for the list's
    bodies, which copy what they keep (metadata, tags, extra_specs) or only read it.
    A driver that already hands back decoded JSON is passed through.
    """

    impl = Text
    cache_ok = True

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        return _loads(value) if isinstance(value, str) else value


_C = Instance.__table__.c
_SHARED_JSON = {
    "flavor": "flavor",
    "metadata": "metadata_",
    "addresses": "addresses",
    "tags": "tags",
}
_DETAIL_NAMES = (
    "id uuid name hostname project_id user_id flavor_id image_ref key_name user_data vm_state "
    "task_state power_state host node availability_zone requested_az access_ip_v4 "
    "access_ip_v6 config_drive reservation_id launch_index locked locked_reason "
    "description launched_at terminated_at created_at updated_at auto_disk_config"
).split()
# What the detail bodies read (server_detail), as plain columns named like Instance's
# attributes; the brief list needs only uuid and name (and addresses for ?ip=).
_DETAIL_COLUMNS = [_C[n] for n in _DETAIL_NAMES] + [
    type_coerce(_C[col], _SharedJSON()).label(attr) for col, attr in _SHARED_JSON.items()
]
_BRIEF_COLUMNS = [_C.id, _C.uuid, _C.name]
_ADDRESSES = type_coerce(_C.addresses, _SharedJSON()).label("addresses")


def _parse_time(field: str, value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise APIError(400, f"Invalid input for query parameter {field}: {value!r}") from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def _bool_param(field: str, value: str) -> bool:
    """oslo's strict ``bool_from_string``, as Nova parses boolean query parameters."""
    lowered = value.strip().lower()
    if lowered in ("1", "t", "true", "on", "y", "yes"):
        return True
    if lowered in ("0", "f", "false", "off", "n", "no"):
        return False
    raise APIError(400, f"Invalid input for query parameter {field}: {value!r}")


MAX_LIMIT = 1000
"""Nova's ``[api] max_limit``: a page holds at most this many servers, asked or not."""


def _limit(params: QueryParams) -> int:
    raw = params.get("limit")
    if raw is None:
        return MAX_LIMIT
    if not raw.isdecimal():
        raise APIError(400, f"Invalid input for query parameter limit: {raw!r}")
    return min(int(raw), MAX_LIMIT)


def _python_filters(params: QueryParams) -> Callable[[Any], bool] | None:
    """``name`` (a regular expression, as Nova) and ``ip`` (a substring of an address)."""
    checks: list[Callable[[Any], bool]] = []
    if name_re := params.get("name"):
        try:
            pattern = re.compile(name_re)
        except re.error:
            raise APIError(400, f"Invalid input for query parameter name: {name_re!r}") from None
        checks.append(lambda r: pattern.search(r.name) is not None)
    if ip := params.get("ip"):
        checks.append(lambda r: ip in str(r.addresses))
    if not checks:
        return None
    return lambda r: all(check(r) for check in checks)


def next_link(base: str, params: QueryParams, marker: str) -> str:
    """The next page: the same query (filters, sort, limit as asked) from ``marker`` on,
    as Nova builds it, so that clients following the link keep their filters."""
    query = [(k, v) for k, v in params.multi_items() if k != "marker"]
    return f"{base}?{urlencode([*query, ('marker', marker)])}"


async def _query(
    session: AsyncSession, params: QueryParams, ctx: RequestContext, vc: ViewContext, detail: bool
) -> tuple[Any, int]:
    """The page's statement (filters, sort, marker, limit) and its limit."""
    columns = list(_DETAIL_COLUMNS if detail else _BRIEF_COLUMNS)
    if not detail and params.get("ip"):
        columns.append(_ADDRESSES)
    query = select(*columns)
    all_tenants = params.get("all_tenants", "").lower() not in ("", "0", "false", "no")
    if params.get("all_tenants") == "":
        all_tenants = "all_tenants" in params
    if all_tenants and not ctx.is_admin:
        raise APIError(403, "Policy doesn't allow all_tenants listing for non-admin users.")
    project = params.get("project_id") or params.get("tenant_id")
    if not ctx.is_admin or not all_tenants:
        query = query.where(Instance.project_id == ctx.project_id)
    elif project:
        query = query.where(Instance.project_id == project)
    changes_since = params.get("changes-since") or params.get("changes_since")
    deleted = params.get("deleted", "").lower() in ("true", "1", "yes") and ctx.is_admin
    if changes_since:
        query = query.where(Instance.updated_at >= _parse_time("changes-since", changes_since))
    elif not deleted:
        # "= false", not "IS false": PostgreSQL uses an index only for the former.
        query = query.where(Instance.deleted == false())
    if changes_before := params.get("changes-before"):
        query = query.where(Instance.updated_at <= _parse_time("changes-before", changes_before))
    if status := params.get("status"):
        vm_states = _STATUS_TO_VM.get(status.upper())
        if vm_states is None:
            # Nova: an unknown status matched nothing until 2.38 made it a client error.
            if vc.version.at_least("2.38"):
                raise APIError(400, "Invalid status value")
            vm_states = []
        query = query.where(Instance.vm_state.in_(vm_states))
    query = apply_column_filters(query, params, ctx, vc.version)
    if vc.version.at_least("2.73") and (locked := params.get("locked")) is not None:
        query = query.where(Instance.locked.is_(_bool_param("locked", locked)))
    if host := params.get("host"):
        if not ctx.is_admin:
            raise APIError(403, "Policy doesn't allow filtering by host for non-admin users.")
        query = query.where(Instance.host == host)
    sort_key = params.get("sort_key", "created_at")
    if sort_key not in _SORT_KEYS:
        raise APIError(400, f"Invalid input for query parameter sort_key: {sort_key!r}")
    sort_dir = params.get("sort_dir", "desc")
    if sort_dir not in ("asc", "desc"):
        raise APIError(400, f"Invalid input for query parameter sort_dir: {sort_dir!r}")
    column = _SORT_KEYS[sort_key]
    if sort_dir == "asc":
        query = query.order_by(column.asc(), Instance.id.asc())
    else:
        query = query.order_by(column.desc(), Instance.id.desc())
    limit = _limit(params)
    if marker := params.get("marker"):
        mark = (
            await session.execute(select(column, Instance.id).where(Instance.uuid == marker))
        ).first()
        if mark is None:
            raise APIError(400, f"marker [{marker}] not found")
        mark_value, mark_id = mark
        if sort_dir == "asc":
            query = query.where(
                (column > mark_value) | ((column == mark_value) & (Instance.id > mark_id))
            )
        else:
            query = query.where(
                (column < mark_value) | ((column == mark_value) & (Instance.id < mark_id))
            )
    return query, limit


async def list_page(
    session: AsyncSession,
    params: QueryParams,
    ctx: RequestContext,
    vc: ViewContext,
    base_url: str,
    detail: bool,
) -> bytes:
    """The JSON of ``GET /servers`` (``detail=False``) or ``/servers/detail``."""
    query, limit = await _query(session, params, ctx, vc, detail)
    # On the session's connection, not session.execute: plain Core rows, no ORM loading.
    conn = await session.connection()
    keep = _python_filters(params)
    if keep is None:
        rows: list[Any] = list((await conn.execute(query.limit(limit))).all())
    else:
        # Filters SQL cannot say on every backend (a regular expression): read on in
        # batches until the page is full, so a page is never short while matches remain.
        rows = []
        batch, offset = max(limit, 200), 0
        while len(rows) < limit:
            chunk = (await conn.execute(query.limit(batch).offset(offset))).all()
            rows.extend(r for r in chunk if keep(r))
            if len(chunk) < batch:
                break
            offset += batch
        del rows[limit:]
    if detail:
        faults = await latest_faults(
            session, [r.uuid for r in rows if r.vm_state in ("error", "deleted")]
        )
        statuses = await server_host_statuses(session, vc, [r.host for r in rows])
        attached = await volumes_attached(session, [r.uuid for r in rows])
        sec_groups = await server_security_groups(session, ctx, [r.uuid for r in rows])
    # A page's bodies are some 50,000 dicts and lists alive at once: with the collector
    # on, its passes while they are built promote them all to the oldest generation and
    # set off a full pass over the whole process (200-400 ms, the list's p95). Built and
    # rendered with it paused (no await in between), they are freed before it resumes.
    with gc_paused():
        if detail:
            servers = _detail_bodies(vc, rows, faults, statuses, attached, sec_groups)
        else:
            servers = [server_brief(vc, r) for r in rows]
        result: dict[str, Any] = {"servers": servers}
        if len(rows) == limit and rows:
            link = f"{base_url}/compute/v2.1/servers{'/detail' if detail else ''}"
            result["servers_links"] = [
                {"rel": "next", "href": next_link(link, params, rows[-1].uuid)}
            ]
        raw = orjson.dumps(result, option=orjson.OPT_NON_STR_KEYS)
        del result, servers
    return raw


def _detail_bodies(
    vc: ViewContext,
    rows: list[Any],
    faults: dict[str, Any],
    statuses: dict[str, str],
    attached: dict[str, list[tuple[str, bool]]],
    sec_groups: dict[str, list[dict[str, str]]],
) -> list[dict[str, Any]]:
    # One flavor body per distinct snapshot: _SharedJSON hands equal texts the same
    # object, so its id (alive as long as the rows are) names the snapshot.
    flavors: dict[tuple[int, str], dict[str, Any]] = {}
    servers = []
    for r in rows:
        key = (id(r.flavor), r.flavor_id)
        flavor = flavors.get(key)
        if flavor is None:
            flavor = flavors[key] = flavor_view(vc, r.flavor, r.flavor_id)
        servers.append(
            server_detail(
                vc,
                r,
                faults.get(r.uuid),
                statuses.get(r.host or "", ""),
                volumes=attached.get(r.uuid),
                flavor=flavor,
                security_groups=sec_groups.get(r.uuid),
            )
        )
    return servers
