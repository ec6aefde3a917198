"""Server groups (``os-server-groups``), the HA groups of DESIGN.md.

Before 2.64 a group has ``policies: [p]`` and empty ``metadata``; from 2.64 ``policy`` and
``rules``. Stockyard adds the rule ``failure_domain`` (host, rack, az, region): the level
over which the policy spreads or packs the group's members.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.api.compute.common import IntLike, parse_body, parse_bool
from stockyard.api.compute.quota_engine import bind_settings, check_quota
from stockyard.api.deletes import delete_or_404
from stockyard.api.deps import Microversion, ProjectCtx, SessionDep, StateDep, WriterCtx
from stockyard.api.errors import APIError
from stockyard.api.microversion import APIVersion
from stockyard.db.models import Instance, ServerGroup, ServerGroupMember
from stockyard.identity.context import RequestContext

router = APIRouter()

Policy = Literal["affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity"]
FAILURE_DOMAINS = ("host", "rack", "az", "region")


class Rules(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_server_per_host: IntLike | None = Field(default=None, ge=1, le=2147483647)
    failure_domain: Literal["host", "rack", "az", "region"] | None = None


class GroupCreateLegacy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=255)
    policies: list[Policy] = Field(min_length=1, max_length=1)


class GroupCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=255)
    policy: Policy
    rules: Rules = Field(default_factory=Rules)


class LegacyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    server_group: GroupCreateLegacy


class Body264(BaseModel):
    model_config = ConfigDict(extra="forbid")
    server_group: GroupCreate


async def _members(session: AsyncSession, group_ids: list[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {gid: [] for gid in group_ids}
    if not group_ids:
        return out
    rows = await session.execute(
        select(ServerGroupMember.group_id, ServerGroupMember.instance_uuid)
        .join(Instance, Instance.uuid == ServerGroupMember.instance_uuid)
        .where(ServerGroupMember.group_id.in_(group_ids), Instance.deleted.is_(False))
        .order_by(ServerGroupMember.id)
    )
    for gid, uuid in rows.all():
        out[gid].append(uuid)
    return out


def group_view(group: ServerGroup, members: list[str], version: APIVersion) -> dict[str, Any]:
    """Nova's server group body at ``version``."""
    body: dict[str, Any] = {"id": group.uuid, "name": group.name, "members": members}
    if version.at_least("2.64"):
        body["policy"] = group.policy
        body["rules"] = dict(group.rules or {})
    else:
        body["policies"] = [group.policy]
        body["metadata"] = {}
    if version.at_least("2.13"):
        body["project_id"] = group.project_id
        body["user_id"] = group.user_id
    return body


def _check_name(name: str) -> None:
    if name != name.strip() or not name.isprintable():
        raise APIError(
            400,
            f"Invalid input for field/attribute name. Value: {name!r}. Leading or trailing "
            "whitespace and control characters are not allowed.",
        )


def _parse(body: Any, version: APIVersion) -> tuple[str, str, dict[str, Any]]:
    """(name, policy, rules) from a create body at ``version``."""
    if version.at_least("2.64"):
        req = parse_body(Body264, body).server_group
        rules = req.rules.model_dump(exclude_none=True)
        if "max_server_per_host" in rules and req.policy != "anti-affinity":
            raise APIError(
                400,
                "Invalid input for field/attribute rules.max_server_per_host: only valid with "
                "the anti-affinity policy.",
            )
        return req.name, req.policy, rules
    legacy = parse_body(LegacyBody, body).server_group
    return legacy.name, legacy.policies[0], {}


async def get_group(session: AsyncSession, ctx: RequestContext, group_id: str) -> ServerGroup:
    """The group, if the caller may see it (its project, or an admin); 404 otherwise."""
    group = await session.scalar(select(ServerGroup).where(ServerGroup.uuid == group_id))
    if group is None or (not ctx.is_admin and group.project_id != ctx.project_id):
        raise APIError(404, _not_found(group_id))
    return group


def _not_found(group_id: str) -> str:
    return f"Instance group {group_id} could not be found."


@router.get("/os-server-groups")
async def list_groups(
    session: SessionDep,
    ctx: ProjectCtx,
    version: Microversion,
    all_projects: Annotated[str | None, Query()] = None,
    limit: Annotated[int | None, Query(ge=0)] = None,
    offset: Annotated[int | None, Query(ge=0)] = None,
) -> dict[str, Any]:
    """The caller's project's groups; admins may ask for ``all_projects``."""
    query = select(ServerGroup).order_by(ServerGroup.id)
    if not (ctx.is_admin and parse_bool("all_projects", all_projects)):
        query = query.where(ServerGroup.project_id == ctx.project_id)
    groups = list((await session.scalars(query)).all())
    start = offset or 0
    groups = groups[start : None if limit is None else start + limit]
    members = await _members(session, [g.id for g in groups])
    return {"server_groups": [group_view(g, members[g.id], version) for g in groups]}


@router.get("/os-server-groups/{group_id}")
async def show_group(
    group_id: str, session: SessionDep, ctx: ProjectCtx, version: Microversion
) -> dict[str, Any]:
    group = await get_group(session, ctx, group_id)
    members = await _members(session, [group.id])
    return {"server_group": group_view(group, members[group.id], version)}


@router.post("/os-server-groups")
async def create_group(
    session: SessionDep,
    ctx: WriterCtx,
    version: Microversion,
    state: StateDep,
    body: Annotated[Any, Body()] = None,
) -> dict[str, Any]:
    name, policy, rules = _parse(body, version)
    _check_name(name)
    project_id = ctx.project_id or ""
    bind_settings(session, state.settings)
    await check_quota(session, project_id, ctx.user_id, {"server_groups": 1})
    group = ServerGroup(
        name=name, project_id=project_id, user_id=ctx.user_id, policy=policy, rules=rules
    )
    session.add(group)
    await session.commit()
    return {"server_group": group_view(group, [], version)}


@router.delete("/os-server-groups/{group_id}", status_code=204)
async def delete_group(group_id: str, session: SessionDep, ctx: WriterCtx) -> Response:
    """Delete a group; its servers stay, they are no longer members of anything."""
    group = await get_group(session, ctx, group_id)
    await delete_or_404(session, group, _not_found(group_id))
    await session.commit()
    return Response(status_code=204)
