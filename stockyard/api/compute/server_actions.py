"""``POST /servers/{id}/action``: reboot, os-stop, os-start, rebuild, os-getConsoleOutput.

The API only checks the current state and writes the task; the conductor does the work.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.api.compute import console
from stockyard.api.compute.server_common import (
    hint_conductor,
    latest_faults,
    load_server,
    request_id,
    view_context,
)
from stockyard.api.compute.server_create import load_image
from stockyard.api.compute.server_schemas import Reboot, Rebuild
from stockyard.api.compute.server_views import server_detail
from stockyard.api.deps import Microversion, SessionDep, StateDep, WriterCtx
from stockyard.api.errors import APIError
from stockyard.api.responses import FastJSONResponse
from stockyard.conductor.states import TaskState, VmState
from stockyard.db.base import utcnow
from stockyard.db.models import Instance, InstanceAction, KeyPair
from stockyard.identity.context import RequestContext

router = APIRouter()

# action -> (allowed vm_states, task_state to set, instance action name)
_RULES: dict[str, tuple[set[str], str]] = {
    "reboot": ({VmState.ACTIVE.value, VmState.STOPPED.value, VmState.ERROR.value}, "reboot"),
    "os-stop": ({VmState.ACTIVE.value, VmState.ERROR.value}, "stop"),
    "os-start": ({VmState.STOPPED.value}, "start"),
    "rebuild": ({VmState.ACTIVE.value, VmState.STOPPED.value, VmState.ERROR.value}, "rebuild"),
}


def _conflict(action: str, inst: Instance) -> APIError:
    if inst.task_state is not None:
        return APIError(
            409,
            f"Cannot '{action}' instance {inst.uuid} while it is in task_state {inst.task_state}",
        )
    return APIError(
        409, f"Cannot '{action}' instance {inst.uuid} while it is in vm_state {inst.vm_state}"
    )


def _validated(model: type[Reboot] | type[Rebuild], field: str, value: Any) -> Any:
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in (field, *err.get("loc", ())))
        raise APIError(400, f"Invalid input for field/attribute {loc}. {err.get('msg')}") from None


async def _start_task(
    session: AsyncSession,
    ctx: RequestContext,
    inst: Instance,
    action: str,
    task: TaskState,
    rid: str,
) -> None:
    allowed, action_name = _RULES[action]
    if inst.task_state is not None or inst.vm_state not in allowed:
        raise _conflict(action, inst)
    if inst.locked and not ctx.is_admin:
        raise APIError(409, f"Instance {inst.uuid} is locked")
    inst.task_state = task.value
    inst.task_started_at = utcnow()
    inst.lease_owner = None
    inst.lease_expires = None
    session.add(
        InstanceAction(
            instance_uuid=inst.uuid,
            action=action_name,
            request_id=rid,
            user_id=ctx.user_id,
            project_id=ctx.project_id or "",
        )
    )


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
    if action not in _RULES:
        raise APIError(400, f"There is no such action: {action}")
    inst = await load_server(session, ctx, server_id, for_update=True)
    rid = request_id(request)
    if action == "reboot":
        reboot = _validated(Reboot, "reboot", value)
        hard = reboot.type.upper() == "HARD"
        if inst.vm_state != VmState.ACTIVE.value and not hard:
            raise _conflict("reboot", inst)
        task = TaskState.REBOOTING_HARD if hard else TaskState.REBOOTING
        await _start_task(session, ctx, inst, action, task, rid)
    elif action == "os-stop":
        await _start_task(session, ctx, inst, action, TaskState.POWERING_OFF, rid)
    elif action == "os-start":
        await _start_task(session, ctx, inst, action, TaskState.POWERING_ON, rid)
    else:
        rebuild = _validated(Rebuild, "rebuild", value)
        image = await load_image(session, ctx, rebuild.imageRef)
        await _start_task(session, ctx, inst, action, TaskState.REBUILDING, rid)
        inst.image_ref = image.id
        if rebuild.name:
            inst.name = rebuild.name
        if rebuild.metadata is not None:
            inst.metadata_ = rebuild.metadata
        if rebuild.description is not None:
            inst.description = rebuild.description
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
        body = {"server": server_detail(vc, inst, faults.get(inst.uuid))}
        return FastJSONResponse(body, status_code=202)
    return Response(status_code=202)
