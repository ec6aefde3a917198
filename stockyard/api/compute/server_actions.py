"""``POST /servers/{id}/action``: reboot, os-stop, os-start, rebuild, os-getConsoleOutput,
lock, unlock, os-resetState and injectNetworkInfo (admin), forceDelete, restore,
addSecurityGroup, removeSecurityGroup.

The API decides "409 or go" from the lifecycle's one table (``begin_action``) and writes
the task it names; the conductor does the work.
"""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import ValidationError
from sqlalchemy import select

from stockyard.api.compute import console, server_admin, server_lock, server_secgroups
from stockyard.api.compute.secgroup_views import server_security_groups
from stockyard.api.compute.server_admin import RESET_STATE, reset_server_state
from stockyard.api.compute.server_common import (
    check_metadata_quota,
    hint_conductor,
    latest_faults,
    load_server,
    member_groups,
    request_id,
    server_host_status,
    start_action,
    view_context,
)
from stockyard.api.compute.server_create import auto_disk_config, load_image
from stockyard.api.compute.server_hostname import requested_hostname
from stockyard.api.compute.server_schemas import Reboot, Rebuild
from stockyard.api.compute.server_views import server_update_view
from stockyard.api.compute.volume_attachments import volumes_attached
from stockyard.api.deps import Microversion, SessionDep, StateDep, WriterCtx
from stockyard.api.errors import APIError
from stockyard.api.responses import FastJSONResponse
from stockyard.db.models import KeyPair, Volume
from stockyard.lifecycle.block_devices import boot_volume_id

router = APIRouter()

# The body's action -> its key in the lifecycle's ACTIONS table (reboot picks soft/hard).
_ACTIONS = {"reboot": "reboot_soft", "os-stop": "stop", "os-start": "start", "rebuild": "rebuild"}


def _validated(model: type[Reboot] | type[Rebuild], field: str, value: Any) -> Any:
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in (field, *err.get("loc", ())))
        raise APIError(400, f"Invalid input for field/attribute {loc}. {err.get('msg')}") from None


@router.post("/servers/{server_id}/action", response_model=None)
async def server_action(
    server_id: str,
    body: dict[str, Any],
    request: Request,
    state: StateDep,
    session: SessionDep,
    ctx: WriterCtx,
    version: Microversion,
) -> Response | dict[str, Any]:
    if len(body) != 1:
        raise APIError(400, "The action body must hold exactly one action.")
    action, value = next(iter(body.items()))
    if action == console.ACTION:
        # Read-only: no task, no lock; the host's agent answers over the bus.
        return await console.console_output(
            state, session, ctx, server_id, value, request_id(request)
        )
    if action == server_lock.LOCK:
        await server_lock.lock_server(session, ctx, server_id, value, version, request_id(request))
        return Response(status_code=202)
    if action == server_lock.UNLOCK:
        await server_lock.unlock_server(session, ctx, server_id, request_id(request))
        return Response(status_code=202)
    if action == server_secgroups.ADD:
        await server_secgroups.add_security_group(session, ctx, server_id, value)
        return Response(status_code=202)
    if action == server_secgroups.REMOVE:
        await server_secgroups.remove_security_group(session, ctx, server_id, value)
        return Response(status_code=202)
    if action == RESET_STATE:
        await reset_server_state(session, ctx, server_id, value, request_id(request))
        return Response(status_code=202)
    if action == server_admin.INJECT_NETWORK_INFO:
        await server_admin.inject_network_info(session, ctx, server_id)
        return Response(status_code=202)
    if action == server_admin.FORCE_DELETE:
        uuid = await server_admin.force_delete(session, ctx, server_id, request_id(request))
        await hint_conductor(state, uuid, request_id(request))
        return Response(status_code=202)
    if action == server_admin.RESTORE:
        await server_admin.restore(session, ctx, server_id)
    if action not in _ACTIONS:
        raise APIError(400, f"There is no such action: {action}")
    inst = await load_server(session, ctx, server_id, for_update=True)
    rid = request_id(request)
    admin_pass = ""
    if action == "reboot":
        reboot = _validated(Reboot, "reboot", value)
        hard = reboot.type.upper() == "HARD"
        start_action(session, ctx, inst, "reboot_hard" if hard else "reboot_soft", rid)
    elif action != "rebuild":
        start_action(session, ctx, inst, _ACTIONS[action], rid)
    else:
        rebuild = _validated(Rebuild, "rebuild", value)
        hostname = requested_hostname(rebuild.hostname, version, "rebuild")
        admin_pass = rebuild.adminPass or secrets.token_urlsafe(9)
        image = await load_image(session, ctx, rebuild.imageRef)
        disk_config = auto_disk_config(rebuild.disk_config, image.properties)
        root = boot_volume_id(inst)
        if root is not None:
            # Nova before 2.93: a volume-backed server rebuilds only from the image its
            # root volume was made from (its disk is kept; no reimage).
            volume = await session.get(Volume, root)
            if volume is None or volume.image_id != image.id:
                raise APIError(
                    400, "Unable to rebuild with a different image for a volume-backed server."
                )
        start_action(session, ctx, inst, "rebuild", rid)
        if root is None:
            inst.image_ref = image.id
        inst.auto_disk_config = disk_config
        if rebuild.name:
            inst.name = rebuild.name
        if hostname is not None:
            inst.hostname = hostname
        if rebuild.metadata is not None:
            await check_metadata_quota(state, session, inst.project_id, len(rebuild.metadata))
            inst.metadata_ = rebuild.metadata
        if rebuild.description is not None:
            inst.description = rebuild.description
        if rebuild.accessIPv4 is not None:
            inst.access_ip_v4 = rebuild.accessIPv4
        if rebuild.accessIPv6 is not None:
            inst.access_ip_v6 = rebuild.accessIPv6
        if rebuild.key_name is not None and version.at_least("2.54"):
            key = await session.scalar(
                select(KeyPair).where(
                    KeyPair.user_id == ctx.user_id, KeyPair.name == rebuild.key_name
                )
            )
            if key is None:
                raise APIError(400, "Invalid key_name provided.")
            inst.key_name, inst.key_data = key.name, key.public_key
        if rebuild.user_data is not None and version.at_least("2.57"):
            inst.user_data = rebuild.user_data
    await session.commit()
    await hint_conductor(state, inst.uuid, rid)
    if action == "rebuild":
        faults = await latest_faults(session, [inst.uuid])
        vc = view_context(state, ctx, version)
        groups = await member_groups(session, inst.uuid)
        status = await server_host_status(session, vc, inst)
        sec_groups = await server_security_groups(session, ctx, [inst.uuid])
        server = server_update_view(
            vc,
            inst,
            faults.get(inst.uuid),
            groups,
            host_status=status,
            rebuild=True,
            security_groups=sec_groups.get(inst.uuid),
            volumes=await volumes_attached(session, [inst.uuid]),
        )
        # Nova ([api] enable_instance_password, default on) returns the new password.
        server["adminPass"] = admin_pass
        return FastJSONResponse({"server": server}, status_code=202)
    return Response(status_code=202)
