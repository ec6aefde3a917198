"""What users can read about an instance: state changes, faults, actions and events."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.db.base import utcnow
from stockyard.db.heartbeat import service_host
from stockyard.db.models import Instance, InstanceAction, InstanceActionEvent, InstanceFault
from stockyard.lifecycle.states import (
    ACTIONS,
    TaskState,
    VmState,
    action_conflict,
    check_transition,
)

FAULT_MESSAGE_MAX = 255

# Nova's event names, so os-instance-actions reads the same as on Nova.
EV_SCHEDULE = "conductor_schedule_and_build_instances"
EV_BUILD = "compute_build_and_run_instance"
OP_EVENTS = {
    "spawn": EV_BUILD,
    "reboot": "compute_reboot_instance",
    "power_off": "compute_stop_instance",
    "power_on": "compute_start_instance",
    "rebuild": "compute_rebuild_instance",
    "destroy": "compute_terminate_instance",
}


def forced_spec(forced_host: str | None) -> str | None:
    """The scheduler's ``"az:host"`` form of an instance's ``forced_host`` column.

    The API stores ``az:host`` (or ``:host`` when only a host was asked for); rows written
    before that hold a bare host name, which means the host, not a zone.
    """
    if not forced_host:
        return None
    return forced_host if ":" in forced_host else f":{forced_host}"


def move(inst: Instance, vm_state: VmState, task_state: TaskState | None) -> None:
    """Change the instance's state; raises ``IllegalTransition`` if the table forbids it."""
    check_transition(inst.vm_state, inst.task_state, vm_state, task_state)
    inst.vm_state = vm_state.value
    inst.task_state = task_state.value if task_state is not None else None


def clear_lease(inst: Instance) -> None:
    """Nobody works on the row any more (set together with ``task_state = None``)."""
    inst.lease_owner = None
    inst.lease_expires = None


class ActionRefused(Exception):
    """The server's state does not allow the action: the API answers 409 with ``message``."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def begin_action(
    inst: Instance, key: str, *, request_id: str, user_id: str | None, project_id: str | None
) -> InstanceAction | None:
    """Start user action ``key`` of ``ACTIONS`` on ``inst`` (the API's only state write).

    Raises :class:`ActionRefused` when the table does not allow it from the current
    state, or when the action needs a host the server never got (Nova's "not ready").
    Returns the ``InstanceAction`` to add, or ``None`` for a delete already under way.
    Any lease is dropped: an op in flight for an older task then finds its result stale.
    """
    action = ACTIONS[key]
    if key == "delete" and inst.task_state == TaskState.DELETING:
        return None
    if not action.allows(inst.vm_state, inst.task_state):
        raise ActionRefused(action_conflict(action, inst.uuid, inst.vm_state, inst.task_state))
    if action.needs_host and not inst.host:
        raise ActionRefused(f"Instance {inst.uuid} is not ready")
    move(inst, VmState(inst.vm_state), action.task)
    inst.task_started_at = utcnow()
    clear_lease(inst)
    return InstanceAction(
        instance_uuid=inst.uuid,
        action=action.name,
        request_id=request_id,
        user_id=user_id,
        project_id=project_id,
    )


RESET_STATES = {"active": VmState.ACTIVE, "error": VmState.ERROR}
"""Nova's ``os-resetState`` targets: the body's ``state`` -> the vm_state it sets."""
RESET_ACTION = "resetState"
"""Its name in ``os-instance-actions`` (Nova's ``instance_actions.RESET``)."""


def reset_state(
    inst: Instance, vm_state: VmState, *, request_id: str, user_id: str, project_id: str
) -> InstanceAction:
    """An admin's ``os-resetState``: ``vm_state``, no task, whatever the row was in.

    Deliberately outside ``TRANSITIONS``: it is the operator's way out of a state the
    table has no exit from (a task stuck on a dead host, a guest that ERROR hides while
    it runs), so it cannot be a row of the table without making every such move legal
    for the workers too. Like ``begin_action`` it drops the lease, so a result still in
    flight for the old task finds it stale and is ignored. Returns the action to add,
    already finished (Nova records it with its start and finish).
    """
    if vm_state not in RESET_STATES.values():
        raise ValueError(f"os-resetState cannot set vm_state {vm_state}")
    inst.vm_state = vm_state.value
    inst.task_state = None
    inst.task_started_at = None
    clear_lease(inst)
    now = utcnow()
    return InstanceAction(
        instance_uuid=inst.uuid,
        action=RESET_ACTION,
        request_id=request_id,
        user_id=user_id,
        project_id=project_id,
        start_time=now,
        finish_time=now,
    )


async def record_api_action(
    session: AsyncSession,
    inst: Instance,
    action: str,
    *,
    request_id: str,
    user_id: str,
    project_id: str,
) -> None:
    """Record ``action`` done by the API alone (Nova's lock, unlock): no task, so the
    action is finished at once, with its one ``api_<action>`` event (Nova's
    ``wrap_instance_event(prefix='api')``). Finished, it never becomes the
    ``current_action`` a running task's events attach to."""
    now = utcnow()
    row = InstanceAction(
        instance_uuid=inst.uuid,
        action=action,
        request_id=request_id,
        user_id=user_id,
        project_id=project_id,
        start_time=now,
        finish_time=now,
    )
    session.add(row)
    await session.flush()
    session.add(
        InstanceActionEvent(
            action_id=row.id,
            event=f"api_{action}",
            start_time=now,
            finish_time=now,
            result="Success",
            # Nova's API events carry the API service's host (its CONF.host).
            host=service_host(),
        )
    )


async def add_fault(
    session: AsyncSession,
    inst: Instance,
    message: str,
    details: str = "",
    code: int = 500,
) -> None:
    """Record a fault; a message longer than the column keeps its full text in details."""
    if len(message) > FAULT_MESSAGE_MAX:
        details = message if not details else f"{message}\n{details}"
        message = message[: FAULT_MESSAGE_MAX - 3] + "..."
    session.add(
        InstanceFault(
            instance_uuid=inst.uuid, code=code, message=message, details=details, host=inst.host
        )
    )


async def current_action(session: AsyncSession, instance_uuid: str) -> InstanceAction | None:
    """The newest unfinished action of the instance (the one the task belongs to)."""
    stmt = (
        select(InstanceAction)
        .where(InstanceAction.instance_uuid == instance_uuid, InstanceAction.finish_time.is_(None))
        .order_by(InstanceAction.id.desc())
        .limit(1)
    )
    return (await session.execute(stmt)).scalars().first()


async def start_event(
    session: AsyncSession, instance_uuid: str, event: str, host: str | None = None
) -> None:
    """Open ``event`` on the current action, unless it is open already (resumed flow)."""
    action = await current_action(session, instance_uuid)
    if action is None:
        return
    open_ = await session.execute(
        select(InstanceActionEvent.id).where(
            InstanceActionEvent.action_id == action.id,
            InstanceActionEvent.event == event,
            InstanceActionEvent.finish_time.is_(None),
        )
    )
    if open_.first() is not None:
        return
    session.add(InstanceActionEvent(action_id=action.id, event=event, host=host))


async def finish_event(
    session: AsyncSession,
    instance_uuid: str,
    event: str,
    ok: bool,
    traceback: str | None = None,
    host: str | None = None,
) -> InstanceAction | None:
    """Close the open ``event`` (opening it first if a resumed flow never did); returns
    the action it belongs to (None when the instance has no open action)."""
    action = await current_action(session, instance_uuid)
    if action is None:
        return None
    stmt = select(InstanceActionEvent).where(
        InstanceActionEvent.action_id == action.id,
        InstanceActionEvent.event == event,
        InstanceActionEvent.finish_time.is_(None),
    )
    ev = (await session.execute(stmt)).scalars().first()
    if ev is None:
        ev = InstanceActionEvent(action_id=action.id, event=event, host=host)
        session.add(ev)
    ev.finish_time = utcnow()
    ev.result = "Success" if ok else "Error"
    if traceback:
        ev.traceback = traceback
    if host and not ev.host:
        ev.host = host
    if not ok:
        # Nova marks the whole action as failed as soon as one event fails.
        action.message = "Error"
    return action


async def finish_action(
    session: AsyncSession, instance_uuid: str, action: InstanceAction | None = None
) -> None:
    """The flow is over: stamp the finish time of the current action (``action``, when
    the caller has it already, e.g. from :func:`finish_event`: one query fewer)."""
    if action is None:
        action = await current_action(session, instance_uuid)
    if action is not None:
        action.finish_time = utcnow()


async def fail_instance(
    session: AsyncSession,
    inst: Instance,
    message: str,
    details: str = "",
    *,
    event: str | None = None,
    host: str | None = None,
) -> None:
    """The one way an instance fails: ERROR, no task, no lease, a fault the user reads,
    the open ``event`` (if any) closed as failed and the action finished."""
    move(inst, VmState.ERROR, None)
    clear_lease(inst)
    inst.task_started_at = None
    await add_fault(session, inst, message, details)
    if event is not None:
        trace = "\n".join(x for x in (message, details) if x)
        await finish_event(session, inst.uuid, event, False, traceback=trace, host=host)
    await finish_action(session, inst.uuid)
