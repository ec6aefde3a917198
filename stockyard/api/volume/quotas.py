"""``os-quota-sets`` (volumes, gigabytes, snapshots, per type; ``?usage=true``),
``/limits`` and ``os-availability-zone`` of the Block Storage API."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Request, Response
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.api.deps import AdminCtx, ProjectCtx, SessionDep, StateDep
from stockyard.api.errors import APIError
from stockyard.api.volume.common import parse_bool, strict_int
from stockyard.api.volume.types import default_type
from stockyard.db.limits import store_limits
from stockyard.db.models import VolumeQuota
from stockyard.identity.context import RequestContext
from stockyard.volume import quota

router = APIRouter()


def _may_read(ctx: RequestContext, project_id: str) -> None:
    if not ctx.is_admin and project_id != ctx.project_id:
        raise APIError(403, "Policy doesn't allow volume_extension:quotas:show to be performed.")


async def _with_default_type(session: AsyncSession) -> None:
    """Every cloud has ``__DEFAULT__``, so its per-type keys are always listed."""
    await default_type(session)
    await session.commit()


async def validated_limits(session: AsyncSession, body: Any, key: str) -> dict[str, int]:
    """``body[key]``'s limits by resource, each a known quota key and an integer of -1 or
    more, or Cinder's 400 naming the key or value; nothing is written."""
    if not isinstance(body, dict) or not isinstance(body.get(key), dict):
        raise APIError(400, f"Missing required element '{key}' in request body.")
    await _with_default_type(session)
    changes = {k: v for k, v in body[key].items() if k not in ("id", "tenant_id")}
    known = set(quota.known_resources(await quota.type_names(session)))
    if bad := sorted(set(changes) - known):
        raise APIError(400, f"Bad key(s) in quota set: {','.join(bad)}")
    out: dict[str, int] = {}
    for resource, value in changes.items():
        limit = strict_int(value)
        if limit is None:
            raise APIError(400, f"Quota limit {value} for {resource} must be an integer.")
        if limit < -1:
            raise APIError(400, f"Quota limit {limit} for {resource} must be -1 or greater.")
        out[resource] = limit
    return out


@router.get("/os-quota-sets/{project_id}/defaults")
async def show_defaults(
    project_id: str, ctx: ProjectCtx, session: SessionDep, state: StateDep
) -> dict[str, Any]:
    _may_read(ctx, project_id)
    await _with_default_type(session)
    limits = await quota.class_limits(session, state.settings)
    return {"quota_set": {"id": project_id, **limits}}


@router.get("/os-quota-sets/{project_id}")
async def show_quotas(
    project_id: str, ctx: ProjectCtx, session: SessionDep, state: StateDep, request: Request
) -> dict[str, Any]:
    _may_read(ctx, project_id)
    await _with_default_type(session)
    limits = await quota.limits(session, state.settings, project_id)
    if not parse_bool(request.query_params.get("usage", "false"), "usage"):
        return {"quota_set": {"id": project_id, **limits}}
    used = await quota.usage(session, project_id)
    detail = {
        r: {"limit": limit, "in_use": used.get(r, 0), "reserved": 0} for r, limit in limits.items()
    }
    # per_volume_gigabytes is a bound, not a consumable: Cinder shows in_use 0 for it.
    return {"quota_set": {"id": project_id, **detail}}


@router.put("/os-quota-sets/{project_id}")
async def update_quotas(
    project_id: str, ctx: AdminCtx, session: SessionDep, state: StateDep, body: Any = Body(None)
) -> dict[str, Any]:
    limits = await validated_limits(session, body, "quota_set")
    await store_limits(session, VolumeQuota, {"project_id": project_id}, limits)
    await session.commit()
    return {"quota_set": await quota.limits(session, state.settings, project_id)}


@router.delete("/os-quota-sets/{project_id}", response_class=Response)
async def reset_quotas(project_id: str, ctx: AdminCtx, session: SessionDep) -> None:
    await session.execute(delete(VolumeQuota).where(VolumeQuota.project_id == project_id))
    await session.commit()


@router.get("/limits")
async def show_limits(ctx: ProjectCtx, session: SessionDep, state: StateDep) -> dict[str, Any]:
    assert ctx.project_id is not None
    limits = await quota.limits(session, state.settings, ctx.project_id)
    used = await quota.usage(session, ctx.project_id)
    absolute = {
        "maxTotalVolumes": limits["volumes"],
        "maxTotalSnapshots": limits["snapshots"],
        "maxTotalVolumeGigabytes": limits["gigabytes"],
        "maxTotalBackups": limits["backups"],
        "maxTotalBackupGigabytes": limits["backup_gigabytes"],
        "totalVolumesUsed": used["volumes"],
        "totalSnapshotsUsed": used["snapshots"],
        "totalGigabytesUsed": used["gigabytes"],
        # No backup service here: nothing can be in use.
        "totalBackupsUsed": 0,
        "totalBackupGigabytesUsed": 0,
    }
    return {"limits": {"rate": [], "absolute": absolute}}


@router.get("/os-availability-zone")
async def list_zones(ctx: ProjectCtx, state: StateDep) -> dict[str, Any]:
    zone = state.settings.volume_availability_zone
    return {"availabilityZoneInfo": [{"zoneName": zone, "zoneState": {"available": True}}]}
