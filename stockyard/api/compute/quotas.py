"""Quota sets (``os-quota-sets``) and ``limits``, over the counting quota engine."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Response
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.api.compute.quota_engine import (
    ALL_RESOURCES,
    class_limits,
    project_limits,
    project_usage,
)
from stockyard.api.deps import AdminCtx, Microversion, ProjectCtx, SessionDep, StateDep
from stockyard.api.errors import APIError
from stockyard.api.microversion import APIVersion
from stockyard.db.models import Quota
from stockyard.identity.context import RequestContext

router = APIRouter()

_NETWORK = ("fixed_ips", "floating_ips", "security_groups", "security_group_rules")
_FILES = ("injected_files", "injected_file_content_bytes", "injected_file_path_bytes")


def _resources(version: APIVersion) -> list[str]:
    """Resources shown at ``version``: network ones go in 2.36, injected files in 2.57."""
    hidden: set[str] = set()
    if version.at_least("2.36"):
        hidden.update(_NETWORK)
    if version.at_least("2.57"):
        hidden.update(_FILES)
    return [r for r in ALL_RESOURCES if r not in hidden]


def _own_or_admin(ctx: RequestContext, project_id: str) -> None:
    # Project isolation: a member may only read its own project's quotas.
    if not ctx.is_admin and project_id != ctx.project_id:
        raise APIError(403, "Policy doesn't allow reading another project's quotas.")


async def _quota_set(
    session: AsyncSession, limits: dict[str, int], version: APIVersion, project_id: str | None
) -> dict[str, Any]:
    body: dict[str, Any] = {r: limits[r] for r in _resources(version)}
    if project_id is not None:
        body["id"] = project_id
    return {"quota_set": body}


@router.get("/os-quota-sets/{project_id}/defaults")
async def show_defaults(
    project_id: str, session: SessionDep, ctx: ProjectCtx, version: Microversion, state: StateDep
) -> dict[str, Any]:
    return await _quota_set(
        session, await class_limits(session, state.settings), version, project_id
    )


@router.get("/os-quota-sets/{project_id}/detail")
async def show_detail(
    project_id: str, session: SessionDep, ctx: ProjectCtx, version: Microversion, state: StateDep
) -> dict[str, Any]:
    """Limits with ``in_use`` counted from the rows (``reserved`` is always 0)."""
    _own_or_admin(ctx, project_id)
    limits = await project_limits(session, state.settings, project_id)
    usage = await project_usage(session, project_id, ctx.user_id)
    body: dict[str, Any] = {
        r: {"limit": limits[r], "in_use": usage[r], "reserved": 0} for r in _resources(version)
    }
    body["id"] = project_id
    return {"quota_set": body}


@router.get("/os-quota-sets/{project_id}")
async def show_quotas(
    project_id: str, session: SessionDep, ctx: ProjectCtx, version: Microversion, state: StateDep
) -> dict[str, Any]:
    _own_or_admin(ctx, project_id)
    limits = await project_limits(session, state.settings, project_id)
    return await _quota_set(session, limits, version, project_id)


def _parse_update(body: Any, version: APIVersion) -> tuple[dict[str, int], bool]:
    inner = body.get("quota_set") if isinstance(body, dict) else None
    if not isinstance(inner, dict) or set(body) != {"quota_set"}:
        raise APIError(400, "Invalid input for field/attribute quota_set: an object is required.")
    allowed = set(_resources(version))
    force = False
    values: dict[str, int] = {}
    for key, raw in inner.items():
        if key == "force":
            if not isinstance(raw, bool):
                raise APIError(400, "Invalid input for field/attribute quota_set.force.")
            force = raw
            continue
        if key not in allowed:
            raise APIError(
                400,
                f"Invalid input for field/attribute quota_set. Additional property {key!r}"
                " is not allowed.",
            )
        value = raw
        if isinstance(raw, str) and raw.strip().lstrip("-").isdecimal():
            value = int(raw)
        if isinstance(value, bool) or not isinstance(value, int) or not -1 <= value <= 2**31 - 1:
            raise APIError(
                400,
                f"Invalid input for field/attribute quota_set.{key}. Value: {raw!r}. "
                "An integer >= -1 is required.",
            )
        values[key] = value
    return values, force


@router.put("/os-quota-sets/{project_id}")
async def update_quotas(
    project_id: str,
    session: SessionDep,
    ctx: AdminCtx,
    version: Microversion,
    state: StateDep,
    body: Annotated[Any, Body()] = None,
) -> dict[str, Any]:
    """Admin: set limits; one below current usage needs ``force``, as Nova."""
    values, force = _parse_update(body, version)
    if not force and values:
        usage = await project_usage(session, project_id, ctx.user_id)
        for key, value in values.items():
            # key_pairs are counted per user; the admin's own count says nothing here.
            if key != "key_pairs" and value != -1 and value < usage[key]:
                raise APIError(
                    400,
                    f"Quota limit {value} for {key} must be greater than or equal to already "
                    f"used and reserved {usage[key]}.",
                )
    existing = {
        q.resource: q
        for q in (await session.scalars(select(Quota).where(Quota.project_id == project_id)))
    }
    for key, value in values.items():
        if key in existing:
            existing[key].hard_limit = value
        else:
            session.add(Quota(project_id=project_id, resource=key, hard_limit=value))
    await session.flush()
    limits = await project_limits(session, state.settings, project_id)
    await session.commit()
    return await _quota_set(session, limits, version, None)


@router.delete("/os-quota-sets/{project_id}", status_code=202)
async def revert_quotas(project_id: str, session: SessionDep, ctx: AdminCtx) -> Response:
    """Admin: drop the project's overrides; its limits are the defaults again."""
    await session.execute(delete(Quota).where(Quota.project_id == project_id))
    await session.commit()
    return Response(status_code=202)


@router.get("/limits")
async def show_limits(
    session: SessionDep,
    ctx: ProjectCtx,
    version: Microversion,
    state: StateDep,
    tenant_id: Annotated[str | None, Query()] = None,
) -> dict[str, Any]:
    """Absolute limits and usage of the caller's project (admin: ``tenant_id``'s)."""
    project_id = ctx.project_id or ""
    if tenant_id is not None and tenant_id != project_id:
        if not ctx.is_admin:
            raise APIError(403, "Policy doesn't allow reading another project's limits.")
        project_id = tenant_id
    limits = await project_limits(session, state.settings, project_id)
    usage = await project_usage(session, project_id, ctx.user_id)
    absolute: dict[str, int] = {
        "maxTotalInstances": limits["instances"],
        "maxTotalCores": limits["cores"],
        "maxTotalRAMSize": limits["ram"],
        "maxTotalKeypairs": limits["key_pairs"],
        "maxServerMeta": limits["metadata_items"],
        "maxServerGroups": limits["server_groups"],
        "maxServerGroupMembers": limits["server_group_members"],
        "totalInstancesUsed": usage["instances"],
        "totalCoresUsed": usage["cores"],
        "totalRAMUsed": usage["ram"],
        "totalServerGroupsUsed": usage["server_groups"],
    }
    if not version.at_least("2.36"):
        absolute.update(
            maxSecurityGroups=limits["security_groups"],
            maxSecurityGroupRules=limits["security_group_rules"],
            maxTotalFloatingIps=limits["floating_ips"],
            totalSecurityGroupsUsed=0,
            totalFloatingIpsUsed=0,
        )
    if not version.at_least("2.39"):
        absolute["maxImageMeta"] = limits["metadata_items"]
    if not version.at_least("2.57"):
        absolute["maxPersonality"] = limits["injected_files"]
        absolute["maxPersonalitySize"] = limits["injected_file_content_bytes"]
    return {"limits": {"rate": [], "absolute": absolute}}
