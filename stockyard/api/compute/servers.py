"""``/servers``: list, detail, show, create, update, delete."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import select

from stockyard.api.compute.secgroup_views import server_security_groups
from stockyard.api.compute.server_common import (
    hint_conductor,
    latest_faults,
    load_server,
    member_groups,
    request_id,
    server_host_status,
    start_action,
    view_context,
)
from stockyard.api.compute.server_create import create_servers
from stockyard.api.compute.server_hostname import requested_hostname
from stockyard.api.compute.server_list import list_page
from stockyard.api.compute.server_schemas import ServerCreateBody, ServerUpdateBody
from stockyard.api.compute.server_views import server_detail, server_update_view
from stockyard.api.compute.volume_attachments import volumes_attached
from stockyard.api.deps import Microversion, ProjectCtx, SessionDep, StateDep, WriterCtx
from stockyard.api.errors import APIError
from stockyard.api.volume.common import hint as volume_hint
from stockyard.bus import contract
from stockyard.db.models import ServerGroup, ServerGroupMember

router = APIRouter()


# The lists answer the JSON list_page rendered: FastAPI would otherwise validate and copy
# every nested dict of a 1,000-server body through pydantic before rendering the same bytes.
@router.get("/servers", response_model=None)
async def list_servers(
    request: Request, state: StateDep, session: SessionDep, ctx: ProjectCtx, version: Microversion
) -> Response:
    vc = view_context(state, ctx, version)
    raw = await list_page(
        session, request.query_params, ctx, vc, state.settings.base_url, detail=False
    )
    return Response(raw, media_type="application/json")


@router.get("/servers/detail", response_model=None)
async def list_servers_detail(
    request: Request, state: StateDep, session: SessionDep, ctx: ProjectCtx, version: Microversion
) -> Response:
    vc = view_context(state, ctx, version)
    raw = await list_page(
        session, request.query_params, ctx, vc, state.settings.base_url, detail=True
    )
    return Response(raw, media_type="application/json")


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
    sec_groups = await server_security_groups(session, ctx, [inst.uuid])
    return {
        "server": server_detail(
            vc,
            inst,
            faults.get(inst.uuid),
            status,
            groups=groups,
            volumes=attached.get(inst.uuid),
            security_groups=sec_groups.get(inst.uuid),
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
    for volume_id in result.volumes:
        await volume_hint(state, "volume", volume_id, request)
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
            # Nova answers the groups asked for (its ports do not exist yet), else default.
            "security_groups": body.server.security_groups or [{"name": "default"}],
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
    sec_groups = await server_security_groups(session, ctx, [inst.uuid])
    return {
        "server": server_update_view(
            vc,
            inst,
            faults.get(inst.uuid),
            groups,
            host_status=status,
            security_groups=sec_groups.get(inst.uuid),
            volumes=await volumes_attached(session, [inst.uuid]),
        )
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
