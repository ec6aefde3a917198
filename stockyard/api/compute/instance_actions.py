"""``/servers/{id}/os-instance-actions``: what happened to a server, and when.

2.84 adds each event's ``details``: in Nova, the fault message of the failed step (the
exception's user-facing message, cut to 255 characters), null for a step that did not
fail. Stockyard keeps that message as the first line of the failed event's traceback
(every failing path writes the user's error first, then the driver's details; see
``stockyard.lifecycle.records``), so ``details`` is read from there: no extra column.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import select

from stockyard.api.compute.server_views import host_id, iso_usec
from stockyard.api.deps import Microversion, ProjectCtx, SessionDep
from stockyard.api.errors import APIError
from stockyard.db.models import Instance, InstanceAction, InstanceActionEvent

router = APIRouter()

_DETAILS_MAX = 255  # Nova's fault message length (utils.safe_truncate)


def _details(ev: InstanceActionEvent) -> str | None:
    """Nova's ``details`` of an event: the failed step's user-facing message."""
    if ev.result != "Error" or not ev.traceback:
        return None
    return ev.traceback.split("\n", 1)[0][:_DETAILS_MAX] or None


async def _instance(session: SessionDep, ctx: ProjectCtx, server_id: str) -> Instance:
    # Deleted servers keep their history (Nova shows actions of deleted servers at 2.21+).
    query = select(Instance).where(Instance.uuid == server_id)
    if not ctx.is_admin:
        query = query.where(Instance.project_id == ctx.project_id)
    inst = await session.scalar(query)
    if inst is None:
        raise APIError(404, f"Instance {server_id} could not be found.")
    return inst


def _action_body(action: InstanceAction, version: Microversion) -> dict[str, Any]:
    body: dict[str, Any] = {
        "action": action.action,
        "instance_uuid": action.instance_uuid,
        "message": action.message,
        "project_id": action.project_id,
        "request_id": action.request_id,
        "start_time": iso_usec(action.start_time),
        "user_id": action.user_id,
    }
    if version.at_least("2.58"):
        body["updated_at"] = iso_usec(action.updated_at)
    return body


@router.get("/servers/{server_id}/os-instance-actions")
async def list_actions(
    server_id: str, session: SessionDep, ctx: ProjectCtx, version: Microversion
) -> dict[str, Any]:
    inst = await _instance(session, ctx, server_id)
    rows = await session.scalars(
        select(InstanceAction)
        .where(InstanceAction.instance_uuid == inst.uuid)
        .order_by(InstanceAction.start_time.desc(), InstanceAction.id.desc())
    )
    return {"instanceActions": [_action_body(a, version) for a in rows]}


@router.get("/servers/{server_id}/os-instance-actions/{req_id}")
async def show_action(
    server_id: str, req_id: str, session: SessionDep, ctx: ProjectCtx, version: Microversion
) -> dict[str, Any]:
    inst = await _instance(session, ctx, server_id)
    action = await session.scalar(
        select(InstanceAction)
        .where(InstanceAction.instance_uuid == inst.uuid, InstanceAction.request_id == req_id)
        .order_by(InstanceAction.id.desc())
    )
    if action is None:
        raise APIError(404, f"Action for request_id {req_id} on instance {server_id} not found")
    events = await session.scalars(
        select(InstanceActionEvent)
        .where(InstanceActionEvent.action_id == action.id)
        .order_by(InstanceActionEvent.id)
    )
    body = _action_body(action, version)
    body["events"] = []
    for ev in events:
        event: dict[str, Any] = {
            "event": ev.event,
            "start_time": iso_usec(ev.start_time),
            "finish_time": iso_usec(ev.finish_time),
            "result": ev.result,
        }
        if ctx.is_admin:
            event["traceback"] = ev.traceback
        if version.at_least("2.62"):
            event["hostId"] = host_id(inst.project_id, ev.host)
            if ctx.is_admin:
                event["host"] = ev.host
        if version.at_least("2.84"):
            event["details"] = _details(ev)
        body["events"].append(event)
    return {"instanceAction": body}
