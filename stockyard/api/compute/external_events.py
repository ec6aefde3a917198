"""``os-server-external-events``: other services tell Nova something happened to a server.

Per event the answer is ``code`` 200 (accepted), 404 (no such live server), 422 (the
server has no host to deliver to) or 400 (a tag the event needs is missing); the call is
200 when every event was accepted, 207 when some were not, 404 when none was.

What an accepted event does here:

- ``power-update`` (2.76; Ironic's "the node's power changed"): on a baremetal host, a
  server with no task in progress becomes ACTIVE/running (``POWER_ON``) or
  STOPPED/shutdown (``POWER_OFF``), recorded as a start/stop action, as Nova's Ironic
  driver does. On a VM host Nova's driver ignores it, and so does Stockyard.
- the network and volume events: acknowledged only. Stockyard has no Neutron port or
  Cinder volume whose change a compute host would have to pick up.
- ``accelerator-request-bound`` (2.82; Cyborg's "the ARQ named by ``tag`` is bound"):
  answered as Nova's API answers it (the tag is required: 400 without; 404 unknown
  server; 422 no host; else 200), because Nova's API does not look at ARQs either. On
  the compute host Nova hands it to a spawn waiting for its ARQs and logs it as
  unexpected otherwise; Stockyard has no accelerators, so no spawn ever waits for one
  and the event changes nothing.
"""

from __future__ import annotations

import uuid as uuidlib
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.api.compute.server_common import request_id
from stockyard.api.deps import Ctx, Microversion, SessionDep
from stockyard.api.errors import APIError
from stockyard.api.microversion import APIVersion
from stockyard.db.base import utcnow
from stockyard.db.models import Host, Instance, InstanceAction
from stockyard.identity.context import RequestContext
from stockyard.lifecycle.records import move
from stockyard.lifecycle.states import IllegalTransition, VmState

router = APIRouter()

_NETWORK_EVENTS = (
    "network-changed",
    "network-vif-plugged",
    "network-vif-unplugged",
    "network-vif-deleted",
)
_STATUSES = ("failed", "completed", "in-progress")
_FIELDS = {"server_uuid", "name", "status", "tag"}
# Events that mean nothing without a tag (the volume, the power state, the ARQ).
_TAG_REQUIRED = ("volume-extended", "power-update", "accelerator-request-bound")
# Nova's power_state codes (stockyard.compute.drivers.base.PowerState, which the API
# layer does not import).
_POWER_RUNNING = 1
_POWER_SHUTDOWN = 4
_POWER_TARGETS = {
    "POWER_ON": (VmState.STOPPED, VmState.ACTIVE, _POWER_RUNNING, "start"),
    "POWER_OFF": (VmState.ACTIVE, VmState.STOPPED, _POWER_SHUTDOWN, "stop"),
}


def _event_names(version: APIVersion) -> tuple[str, ...]:
    names: tuple[str, ...] = _NETWORK_EVENTS
    if version.at_least("2.51"):
        names += ("volume-extended",)
    if version.at_least("2.76"):
        names += ("power-update",)
    if version.at_least("2.82"):
        names += ("accelerator-request-bound",)
    return names


async def _service(ctx: Ctx) -> RequestContext:
    """Admins, and the service role other OpenStack services' users hold."""
    if not (ctx.is_admin or "service" in ctx.roles):
        raise APIError(
            403,
            "Policy doesn't allow os_compute_api:os-server-external-events:create to be performed.",
        )
    return ctx


def _bad(field: str, value: Any, why: str) -> APIError:
    return APIError(400, f"Invalid input for field/attribute {field}. Value: {value!r}. {why}")


def _check_body(body: Any, version: APIVersion) -> list[dict[str, Any]]:
    """Nova's request schema for the microversion; 400 naming the first bad field."""
    if not isinstance(body, dict) or set(body) != {"events"}:
        raise APIError(400, "Invalid input for field/attribute body: 'events' is required.")
    events = body["events"]
    if not isinstance(events, list) or not events:
        raise _bad("events", events, "A non-empty list is required.")
    names = _event_names(version)
    for event in events:
        if not isinstance(event, dict):
            raise _bad("events", event, "An object is required.")
        for key in sorted(set(event) - _FIELDS):
            raise _bad("events", event, f"Additional property {key!r} is not allowed.")
        for key in ("server_uuid", "name"):
            if key not in event:
                raise _bad("events", event, f"{key!r} is a required property.")
        server = event["server_uuid"]
        try:
            uuidlib.UUID(server if isinstance(server, str) else "")
        except ValueError:
            raise _bad("server_uuid", server, "A UUID is required.") from None
        if event["name"] not in names:
            raise _bad("name", event["name"], f"It is not one of {list(names)}.")
        if "status" in event and event["status"] not in _STATUSES:
            raise _bad("status", event["status"], f"It is not one of {list(_STATUSES)}.")
        tag = event.get("tag")
        if "tag" in event and (not isinstance(tag, str) or len(tag) > 255):
            raise _bad("tag", tag, "A string of at most 255 characters is required.")
    return events


async def _power_update(
    session: AsyncSession, ctx: RequestContext, inst: Instance, tag: str, req_id: str
) -> None:
    """Take the node's new power state, as Nova's Ironic driver does."""
    target = _POWER_TARGETS.get(tag)
    kind = await session.scalar(select(Host.kind).where(Host.name == inst.host))
    if target is None or kind != "baremetal" or inst.task_state is not None:
        return  # an unknown state, a VM host, or a task that will settle the state itself
    from_vm, to_vm, power, action = target
    if inst.vm_state != from_vm.value:
        return  # already there (or in a state a power change does not leave)
    try:
        move(inst, to_vm, None)
    except IllegalTransition:
        return
    inst.power_state = power
    now = utcnow()
    session.add(
        InstanceAction(
            instance_uuid=inst.uuid,
            action=action,
            request_id=req_id,
            user_id=ctx.user_id,
            project_id=ctx.project_id or inst.project_id,
            start_time=now,
            finish_time=now,
        )
    )


@router.post("/os-server-external-events")
async def create_events(
    request: Request,
    session: SessionDep,
    ctx: Annotated[RequestContext, Depends(_service)],
    version: Microversion,
    body: Annotated[Any, Body()] = None,
) -> JSONResponse:
    """Deliver each event to its server; the per-event ``code`` says what became of it."""
    events = _check_body(body, version)
    uuids = {e["server_uuid"] for e in events}
    rows = await session.scalars(
        select(Instance).where(Instance.uuid.in_(uuids), Instance.deleted.is_(False))
    )
    instances = {inst.uuid: inst for inst in rows.all()}
    out: list[dict[str, Any]] = []
    accepted = 0
    for event in events:
        reply = dict(event)
        inst = instances.get(event["server_uuid"])
        if inst is None:
            reply.update(status="failed", code=404)
        elif event["name"] in _TAG_REQUIRED and event.get("tag") is None:
            reply.update(status="failed", code=400)
        elif not inst.host:
            reply.update(status="failed", code=422)
        else:
            reply.update(status="completed", code=200)
            accepted += 1
            if event["name"] == "power-update":
                await _power_update(session, ctx, inst, event["tag"], request_id(request))
        out.append(reply)
    if not accepted:
        raise APIError(404, "No instances found for any event")
    await session.commit()
    return JSONResponse({"events": out}, status_code=200 if accepted == len(out) else 207)
