"""``os-simple-tenant-usage``: instance hours per project over a period, as Nova computes
them from its instance rows.

An instance counts from ``launched_at`` (never launched: no hours) to ``terminated_at``
(or the period's end), clipped to the period; the vCPU, RAM and disk totals weigh those
hours by the flavor snapshot. Deleted instances stay rows (``deleted``, ``terminated_at``),
so a period in the past still sees the servers that lived in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.api.compute.common import parse_limit
from stockyard.api.compute.instance_sizes import size_of
from stockyard.api.deps import AdminCtx, Microversion, ProjectCtx, SessionDep, StateDep
from stockyard.api.errors import APIError
from stockyard.api.microversion import APIVersion
from stockyard.db.base import utcnow
from stockyard.db.models import Instance

router = APIRouter()

MAX_LIMIT = 1000  # Nova's [api] max_limit
_FORMATS = ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%d %H:%M:%S.%f")
_PARAMS = {"start", "end", "detailed", "limit", "marker"}
Q = Annotated[str | None, Query()]


def _stamp(value: datetime) -> str:
    """Nova's JSON datetimes here: naive, always with microseconds."""
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f")


def _parse_time(raw: str | None, now: datetime) -> datetime:
    if not raw:
        return now
    for fmt in _FORMATS:
        try:
            return datetime.strptime(raw, fmt)
        except ValueError:
            continue
    raise APIError(400, "Invalid datetime string: Datetime is in invalid format")


@dataclass(frozen=True)
class Period:
    start: datetime
    stop: datetime
    detailed: bool
    limit: int
    marker: str | None


def _period(request: Request, version: APIVersion, show: bool) -> Period:
    params = request.query_params
    if version.at_least("2.75"):
        for key in sorted(set(params) - _PARAMS):
            raise APIError(
                400,
                f"Invalid input for query parameters {key}. Additional properties are not allowed.",
            )
    now = utcnow()
    start = _parse_time(params.get("start"), now)
    stop = _parse_time(params.get("end"), now)
    if not start < stop:
        raise APIError(400, "Invalid start time. The start time cannot occur after the end time.")
    # Nothing is known about the future: a period reaching past now stops now.
    stop = min(stop, now)
    limit, marker = MAX_LIMIT, None
    if version.at_least("2.40"):
        asked = parse_limit(params.get("limit"))
        limit = MAX_LIMIT if asked is None else min(asked, MAX_LIMIT)
        marker = params.get("marker")
    detailed = show or params.get("detailed", "0") == "1"
    return Period(start, stop, detailed, limit, marker)


async def _instances(
    session: AsyncSession, period: Period, project_id: str | None
) -> list[Instance]:
    """Instances alive at some point of the period, deleted ones included, in Nova's
    paging order (project, uuid)."""
    query = select(Instance).where(
        or_(Instance.terminated_at.is_(None), Instance.terminated_at > period.start),
        or_(Instance.launched_at.is_(None), Instance.launched_at < period.stop),
    )
    if project_id is not None:
        query = query.where(Instance.project_id == project_id)
    if period.marker is not None:
        after = await session.scalar(select(Instance).where(Instance.uuid == period.marker))
        if after is None:
            raise APIError(400, f"Marker {period.marker} could not be found.")
        query = query.where(
            or_(
                Instance.project_id > after.project_id,
                and_(Instance.project_id == after.project_id, Instance.uuid > after.uuid),
            )
        )
    query = query.order_by(Instance.project_id, Instance.uuid).limit(period.limit)
    return list((await session.scalars(query)).all())


def _hours(inst: Instance, period: Period) -> float:
    if inst.launched_at is None:
        return 0.0  # never ran: nothing to charge
    if inst.terminated_at is not None and inst.terminated_at < period.start:
        return 0.0
    if inst.launched_at > period.stop:
        return 0.0
    start = max(inst.launched_at, period.start)
    stop = period.stop if inst.terminated_at is None else min(period.stop, inst.terminated_at)
    return max((stop - start).total_seconds() / 3600.0, 0.0)


def _server_usage(inst: Instance, period: Period, now: datetime) -> dict[str, Any]:
    size = size_of(inst)
    # A server that never launched has no launch time; Nova's schema needs one, and its
    # creation is when it started to exist.
    started = inst.launched_at or inst.created_at
    ended = inst.terminated_at
    uptime = (ended if ended is not None else now) - started
    return {
        "instance_id": inst.uuid,
        "name": inst.name,
        "tenant_id": inst.project_id,
        "flavor": str((inst.flavor or {}).get("name", "")),
        "hours": _hours(inst, period),
        "vcpus": size.vcpus,
        "memory_mb": size.memory_mb,
        "local_gb": size.local_gb,
        "started_at": _stamp(started),
        "ended_at": _stamp(ended) if ended is not None else None,
        "state": "terminated" if ended is not None else inst.vm_state,
        "uptime": int(uptime.total_seconds()),
    }


def _empty_summary(project_id: str, period: Period) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "tenant_id": project_id,
        "total_local_gb_usage": 0,
        "total_vcpus_usage": 0,
        "total_memory_mb_usage": 0,
        "total_hours": 0,
        "start": _stamp(period.start),
        "stop": _stamp(period.stop),
    }
    if period.detailed:
        summary["server_usages"] = []
    return summary


def _summaries(instances: list[Instance], period: Period) -> list[dict[str, Any]]:
    now = utcnow()
    out: dict[str, dict[str, Any]] = {}
    for inst in instances:
        usage = _server_usage(inst, period, now)
        summary = out.get(inst.project_id)
        if summary is None:
            summary = out[inst.project_id] = _empty_summary(inst.project_id, period)
        hours = usage["hours"]
        summary["total_local_gb_usage"] += usage["local_gb"] * hours
        summary["total_vcpus_usage"] += usage["vcpus"] * hours
        summary["total_memory_mb_usage"] += usage["memory_mb"] * hours
        summary["total_hours"] += hours
        if period.detailed:
            summary["server_usages"].append(usage)
    return list(out.values())


def _next_link(
    request: Request, base_url: str, path: str, instances: list[Instance], period: Period
) -> list[dict[str, str]] | None:
    """A "next" link when the page is full, as Nova's collection links."""
    if not instances or len(instances) != period.limit:
        return None
    params = {k: v for k, v in request.query_params.items() if k != "marker"}
    params["marker"] = instances[-1].uuid
    return [{"rel": "next", "href": f"{base_url}/compute/v2.1/{path}?{urlencode(params)}"}]


@router.get("/os-simple-tenant-usage")
async def list_usage(
    request: Request,
    session: SessionDep,
    ctx: AdminCtx,
    version: Microversion,
    state: StateDep,
) -> dict[str, Any]:
    """Usage of every project with instances in the period (``detailed=1``: per server)."""
    period = _period(request, version, show=False)
    instances = await _instances(session, period, None)
    body: dict[str, Any] = {"tenant_usages": _summaries(instances, period)}
    if version.at_least("2.40"):
        base = state.settings.base_url
        links = _next_link(request, base, "os-simple-tenant-usage", instances, period)
        if links:
            body["tenant_usages_links"] = links
    return body


@router.get("/os-simple-tenant-usage/{project_id}")
async def show_usage(
    project_id: str,
    request: Request,
    session: SessionDep,
    ctx: ProjectCtx,
    version: Microversion,
    state: StateDep,
) -> dict[str, Any]:
    """One project's usage, per server; an admin or that project's own members."""
    if not ctx.is_admin and ctx.project_id != project_id:
        raise APIError(
            403, "Policy doesn't allow os_compute_api:os-simple-tenant-usage:show to be performed."
        )
    period = _period(request, version, show=True)
    instances = await _instances(session, period, project_id)
    summaries = _summaries(instances, period)
    # No instance in the period: zero usage. (Nova answers an empty object, which its own
    # response schema rejects; Tempest's clients retry until they get a valid one.)
    usage = summaries[0] if summaries else _empty_summary(project_id, period)
    body: dict[str, Any] = {"tenant_usage": usage}
    if version.at_least("2.40"):
        path = f"os-simple-tenant-usage/{project_id}"
        links = _next_link(request, state.settings.base_url, path, instances, period)
        if links:
            body["tenant_usage_links"] = links
    return body


@router.get("/os-simple-tenant-usage/", include_in_schema=False)
async def show_usage_without_project(ctx: ProjectCtx) -> dict[str, Any]:
    # An empty project id names no resource (Nova: 404); without this route the trailing
    # slash would be redirected to the all-projects list.
    raise APIError(404, "The resource could not be found.")
