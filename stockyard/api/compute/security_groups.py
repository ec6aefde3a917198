"""Nova's security group proxy (deprecated; removed at 2.36): ``/os-security-groups``
over Stockyard's own Networking v2 groups (:mod:`stockyard.network.secgroups`, same
database, no HTTP), with the answers Nova gives when it talks to Neutron.

``/servers/{id}/os-security-groups`` was not removed: it answers at every version. The
rules are in :mod:`stockyard.api.compute.security_group_rules`, the server actions
``addSecurityGroup`` / ``removeSecurityGroup`` in :mod:`stockyard.api.compute.server_secgroups`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Request, Response
from sqlalchemy import select

from stockyard.api.compute.removed import require_before
from stockyard.api.compute.secgroup_views import groups_view, relay, sort_groups, validate_id
from stockyard.api.compute.server_common import load_server
from stockyard.api.deps import Microversion, ProjectCtx, SessionDep, WriterCtx
from stockyard.api.errors import APIError
from stockyard.db.models import Port, SecurityGroup
from stockyard.network import ports, secgroups
from stockyard.network.errors import NeutronError

router = APIRouter()

REMOVED_AT = "2.36"
MAX_LIMIT = 1000  # Nova's [api] max_limit
MAX_LENGTH = 255


def from_body(body: Any, key: str) -> Any:
    """Nova's ``_from_body``: the body's ``key``, or 400."""
    if not body:
        raise APIError(400, "The request body can't be empty")
    value = body.get(key) if isinstance(body, dict) else None
    if value is None:
        raise APIError(400, f"Missing parameter {key}")
    return value


def _check_string(value: Any, name: str) -> str:
    # nova.utils.check_string_length(min_length=0, max_length=255), oslo's messages.
    if not isinstance(value, str):
        raise APIError(400, f"{name} is not a string or unicode")
    if len(value) > MAX_LENGTH:
        raise APIError(400, f"{name} has more than {MAX_LENGTH} characters.")
    return value


def _name_and_description(body: Any) -> tuple[str, str]:
    group = from_body(body, "security_group")
    if not isinstance(group, dict):
        raise APIError(400, "name is not a string or unicode")
    return (
        _check_string(group.get("name"), "name"),
        _check_string(group.get("description"), "description"),
    )


def _page_param(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    if not raw.isdigit():
        raise APIError(
            400,
            f"Invalid input for query parameters {name}. Value: {raw}. "
            f"'{raw}' does not match '^[0-9]*$'",
        )
    return int(raw)


async def _group(session: SessionDep, ctx: ProjectCtx, group_id: str) -> SecurityGroup:
    validate_id(group_id)
    try:
        return await secgroups.get_group(session, ctx, group_id)
    except NeutronError as exc:
        raise relay(exc) from None


@router.get("/os-security-groups")
async def list_groups(
    request: Request, session: SessionDep, ctx: ProjectCtx, version: Microversion
) -> dict[str, Any]:
    require_before(version, REMOVED_AT)
    offset = _page_param(request, "offset") or 0
    limit = min(MAX_LIMIT, _page_param(request, "limit") or MAX_LIMIT)
    project = ctx.project_id or ""
    # Neutron makes the caller's default group the first time its groups are listed.
    await secgroups.ensure_default(session, project)
    await session.commit()
    query = select(SecurityGroup).order_by(SecurityGroup.created_at, SecurityGroup.id)
    # Nova lists every project's only for an admin who asks (``all_tenants``, any value).
    if not (ctx.is_admin and "all_tenants" in request.query_params):
        query = query.where(SecurityGroup.project_id == project)
    rows = list(await session.scalars(query))[offset : offset + limit]
    return {"security_groups": sort_groups(await groups_view(session, rows))}


@router.post("/os-security-groups")
async def create_group(
    session: SessionDep, ctx: WriterCtx, version: Microversion, body: Any = Body(None)
) -> dict[str, Any]:
    require_before(version, REMOVED_AT)
    name, description = _name_and_description(body)
    try:
        group = await secgroups.create_group(session, ctx.project_id or "", name, description)
    except NeutronError as exc:
        raise relay(exc) from None
    (view,) = await groups_view(session, [group])
    await session.commit()
    return {"security_group": view}


@router.get("/os-security-groups/{group_id}")
async def show_group(
    group_id: str, session: SessionDep, ctx: ProjectCtx, version: Microversion
) -> dict[str, Any]:
    require_before(version, REMOVED_AT)
    group = await _group(session, ctx, group_id)
    (view,) = await groups_view(session, [group])
    return {"security_group": view}


@router.put("/os-security-groups/{group_id}")
async def update_group(
    group_id: str,
    session: SessionDep,
    ctx: WriterCtx,
    version: Microversion,
    body: Any = Body(None),
) -> dict[str, Any]:
    require_before(version, REMOVED_AT)
    await _group(session, ctx, group_id)
    name, description = _name_and_description(body)
    try:
        group = await secgroups.update_group(
            session, ctx, group_id, {"name": name, "description": description}
        )
    except NeutronError as exc:
        # Renaming the default group: Neutron's 409, which Nova lets out as a 500; the
        # client's mistake reads better as Nova's 400 for a refused change.
        raise APIError(400 if exc.status == 409 else exc.status, exc.message) from None
    (view,) = await groups_view(session, [group])
    await session.commit()
    return {"security_group": view}


@router.delete("/os-security-groups/{group_id}", status_code=202)
async def delete_group(
    group_id: str, session: SessionDep, ctx: WriterCtx, version: Microversion
) -> Response:
    require_before(version, REMOVED_AT)
    await _group(session, ctx, group_id)
    try:
        await secgroups.delete_group(session, ctx, group_id)
    except NeutronError as exc:
        # In use, or the default group: Neutron's 409 is Nova's ``Invalid`` (400).
        raise APIError(400 if exc.status == 409 else exc.status, exc.message) from None
    await session.commit()
    return Response(status_code=202)


# "/os-security-groups/" names no group: Nova's router matches nothing there (404), where
# ours would redirect to the collection. One route per method, each with its own name.
async def empty_group_id(ctx: ProjectCtx) -> Response:
    raise APIError(404, "The resource could not be found.")


for _method in ("GET", "PUT", "DELETE"):
    router.add_api_route(
        "/os-security-groups/",
        empty_group_id,
        methods=[_method],
        name=f"empty_security_group_id_{_method.lower()}",
        include_in_schema=False,
    )


@router.get("/servers/{server_id}/os-security-groups")
async def list_server_groups(
    server_id: str, session: SessionDep, ctx: ProjectCtx
) -> dict[str, Any]:
    """The groups of the server's ports, with their rules. As Nova, a group is listed once
    per port that has it, and only if the caller may see it."""
    inst = await load_server(session, ctx, server_id)
    port_ids = list(
        await session.scalars(
            select(Port.id)
            .where(Port.device_id == inst.uuid, ports.visible(ctx))
            .order_by(Port.created_at, Port.id)
        )
    )
    by_port = await ports.groups_of(session, port_ids)
    wanted = sorted({gid for gids in by_port.values() for gid in gids})
    found = {
        g.id: g
        for g in await session.scalars(select(SecurityGroup).where(SecurityGroup.id.in_(wanted)))
        if secgroups.can_see(ctx, g.project_id)
    }
    views = {v["id"]: v for v in await groups_view(session, list(found.values()))}
    listed = [views[gid] for pid in port_ids for gid in by_port[pid] if gid in views]
    return {"security_groups": sort_groups(listed)}
