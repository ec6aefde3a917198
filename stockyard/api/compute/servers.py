"""``/servers``: list, detail, show, create, update, delete."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select
from sqlalchemy.orm import InstrumentedAttribute

from stockyard.api.compute.server_common import (
    hint_conductor,
    latest_faults,
    load_server,
    member_groups,
    request_id,
    server_host_status,
    server_host_statuses,
    start_action,
    view_context,
)
from stockyard.api.compute.server_create import create_servers
from stockyard.api.compute.server_filters import apply_column_filters
from stockyard.api.compute.server_hostname import requested_hostname
from stockyard.api.compute.server_schemas import ServerCreateBody, ServerUpdateBody
from stockyard.api.compute.server_views import server_brief, server_detail, server_update_view
from stockyard.api.compute.volume_attachments import volumes_attached
from stockyard.api.deps import Microversion, ProjectCtx, SessionDep, StateDep, WriterCtx
from stockyard.api.errors import APIError
from stockyard.api.microversion import APIVersion
from stockyard.bus import contract
from stockyard.db.models import Instance, ServerGroup, ServerGroupMember
from stockyard.lifecycle.states import VmState

router = APIRouter()

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
_ROW_COLUMNS = [
    getattr(Instance, attr.key).label(attr.key) for attr in sa_inspect(Instance).column_attrs
]
_SORT_KEYS: dict[str, InstrumentedAttribute[Any]] = {
    "created_at": Instance.created_at,
    "updated_at": Instance.updated_at,
    "display_name": Instance.name,
    "uuid": Instance.uuid,
    "vm_state": Instance.vm_state,
}


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


async def _list(
    request: Request,
    state: StateDep,
    session: SessionDep,
    ctx: ProjectCtx,
    version: APIVersion,
    detail: bool,
) -> dict[str, Any]:
    params = request.query_params
    # Plain rows, not ORM objects: listing hundreds of servers must stay cheap, and the
    # views only read attributes (a labelled Row reads like an Instance).
    query = select(*_ROW_COLUMNS)
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
        query = query.where(Instance.deleted.is_(False))
    if changes_before := params.get("changes-before"):
        query = query.where(Instance.updated_at <= _parse_time("changes-before", changes_before))
    if status := params.get("status"):
        vm_states = _STATUS_TO_VM.get(status.upper())
        if vm_states is None:
            # Nova: an unknown status matched nothing until 2.38 made it a client error.
            if version.at_least("2.38"):
                raise APIError(400, "Invalid status value")
            vm_states = []
        query = query.where(Instance.vm_state.in_(vm_states))
    query = apply_column_filters(query, params, ctx, version)
    if version.at_least("2.73") and (locked := params.get("locked")) is not None:
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
    limit_raw = params.get("limit")
    limit: int | None = None
    if limit_raw is not None:
        if not limit_raw.isdecimal():
            raise APIError(400, f"Invalid input for query parameter limit: {limit_raw!r}")
        limit = min(int(limit_raw), 1000)
    if marker := params.get("marker"):
        mark = await session.scalar(select(Instance).where(Instance.uuid == marker))
        if mark is None:
            raise APIError(400, f"marker [{marker}] not found")
        mark_value = getattr(mark, column.key)
        if sort_dir == "asc":
            query = query.where(
                (column > mark_value) | ((column == mark_value) & (Instance.id > mark.id))
            )
        else:
            query = query.where(
                (column < mark_value) | ((column == mark_value) & (Instance.id < mark.id))
            )
    if limit is not None:
        query = query.limit(limit)
    rows: list[Any] = list((await session.execute(query)).all())
    name_re = params.get("name")
    if name_re:
        try:
            pattern = re.compile(name_re)
        except re.error:
            raise APIError(400, f"Invalid input for query parameter name: {name_re!r}") from None
        rows = [r for r in rows if pattern.search(r.name)]
    if ip := params.get("ip"):
        rows = [r for r in rows if ip in str(r.addresses)]
    vc = view_context(state, ctx, version)
    result: dict[str, Any]
    if detail:
        faults = await latest_faults(
            session, [r.uuid for r in rows if r.vm_state in ("error", "deleted")]
        )
        statuses = await server_host_statuses(session, vc, [r.host for r in rows])
        attached = await volumes_attached(session, [r.uuid for r in rows])
        result = {
            "servers": [
                server_detail(
                    vc,
                    r,
                    faults.get(r.uuid),
                    statuses.get(r.host or "", ""),
                    volumes=attached.get(r.uuid),
                )
                for r in rows
            ]
        }
    else:
        result = {"servers": [server_brief(vc, r) for r in rows]}
    if limit is not None and len(rows) == limit and rows:
        link = f"{state.settings.base_url}/compute/v2.1/servers{'/detail' if detail else ''}"
        result["servers_links"] = [
            {"rel": "next", "href": f"{link}?limit={limit}&marker={rows[-1].uuid}"}
        ]
    return result


@router.get("/servers")
async def list_servers(
    request: Request, state: StateDep, session: SessionDep, ctx: ProjectCtx, version: Microversion
) -> dict[str, Any]:
    return await _list(request, state, session, ctx, version, detail=False)


@router.get("/servers/detail")
async def list_servers_detail(
    request: Request, state: StateDep, session: SessionDep, ctx: ProjectCtx, version: Microversion
) -> dict[str, Any]:
    return await _list(request, state, session, ctx, version, detail=True)


@router.get("/servers/{server_id}")
async def show_server(
    server_id: str, state: StateDep, session: SessionDep, ctx: ProjectCtx, version: Microversion
) -> dict[str, Any]:
    inst = await load_server(session, ctx, server_id)
    faults = await latest_faults(session, [inst.uuid])
    groups = list(
        (
            await session.scalars(
                select(ServerGroup.uuid)
                .join(ServerGroupMember, ServerGroupMember.group_id == ServerGroup.id)
                .where(ServerGroupMember.instance_uuid == inst.uuid)
            )
        ).all()
    )
    vc = view_context(state, ctx, version)
    status = await server_host_status(session, vc, inst)
    attached = await volumes_attached(session, [inst.uuid])
    return {
        "server": server_detail(
            vc, inst, faults.get(inst.uuid), status, groups=groups, volumes=attached.get(inst.uuid)
        )
    }


@router.post("/servers", status_code=202)
async def create_server(
    body: ServerCreateBody,
    request: Request,
    state: StateDep,
    session: SessionDep,
    ctx: WriterCtx,
    version: Microversion,
    response: Response,
) -> dict[str, Any]:
    rid = request_id(request)
    result = await create_servers(state, session, ctx, body, version, rid)
    await session.commit()
    hint = contract.BuildHint(instance_uuids=[i.uuid for i in result.instances], request_id=rid)
    await state.bus.publish(contract.SCHEDULER, contract.encode(hint))
    if body.server.return_reservation_id:
        return {"reservation_id": result.reservation_id}
    first = result.instances[0]
    vc = view_context(state, ctx, version)
    links = vc.link("servers", first.uuid)
    response.headers["Location"] = links[0]["href"]
    # Nova's create response: no name (Tempest's schema forbids extra keys).
    return {
        "server": {
            "id": first.uuid,
            "links": links,
            "OS-DCF:diskConfig": "AUTO" if first.auto_disk_config else "MANUAL",
            "security_groups": [{"name": "default"}],
            "adminPass": result.admin_pass,
        }
    }


@router.put("/servers/{server_id}")
async def update_server(
    server_id: str,
    body: ServerUpdateBody,
    state: StateDep,
    session: SessionDep,
    ctx: WriterCtx,
    version: Microversion,
) -> dict[str, Any]:
    inst = await load_server(session, ctx, server_id)
    update = body.server
    hostname = requested_hostname(update.hostname, version)
    if update.name is not None:
        inst.name = update.name
    if hostname is not None:
        inst.hostname = hostname
    if update.description is not None:
        if not version.at_least("2.19"):
            raise APIError(400, "Invalid input for field/attribute description (needs 2.19).")
        inst.description = update.description
    if update.accessIPv4 is not None:
        inst.access_ip_v4 = update.accessIPv4
    if update.accessIPv6 is not None:
        inst.access_ip_v6 = update.accessIPv6
    if update.disk_config is not None:
        inst.auto_disk_config = update.disk_config == "AUTO"
    await session.commit()
    faults = await latest_faults(session, [inst.uuid])
    vc = view_context(state, ctx, version)
    groups = await member_groups(session, inst.uuid)
    status = await server_host_status(session, vc, inst)
    return {
        "server": server_update_view(vc, inst, faults.get(inst.uuid), groups, host_status=status)
    }


@router.delete("/servers/{server_id}", status_code=204)
async def delete_server(
    server_id: str, request: Request, state: StateDep, session: SessionDep, ctx: WriterCtx
) -> Response:
    inst = await load_server(session, ctx, server_id, for_update=True)
    rid = request_id(request)
    start_action(session, ctx, inst, "delete", rid)
    await session.commit()
    await hint_conductor(state, inst.uuid, rid)
    return Response(status_code=204)


def _include_subrouters() -> None:
    from stockyard.api.compute.instance_actions import router as actions_log_router
    from stockyard.api.compute.server_actions import router as actions_router
    from stockyard.api.compute.server_extras import router as extras_router
    from stockyard.api.compute.server_password import router as password_router
    from stockyard.api.compute.server_tags import router as tags_router

    for sub in (actions_router, actions_log_router, extras_router, tags_router, password_router):
        router.include_router(sub, prefix="")


_include_subrouters()
