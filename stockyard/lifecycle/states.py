"""Instance states (Nova's vocabulary), the user actions, and the one table of transitions.

``vm_state`` is the stable state, ``task_state`` the operation in flight (None when idle).
The API maps the pair to the user-visible ``status`` with ``api_status``.

One table drives both sides, so they cannot drift apart:

- :data:`ACTIONS` says, per user action, from which ``(vm_state, task_state)`` it may
  start and which task it sets; the API answers 409 for anything else
  (:func:`action_conflict`) and never writes a state the table does not hold.
- :data:`OUTCOMES` says where each task ends when its op succeeds; a failed op ends in
  ERROR (deletes excepted: they are retried until done).
- :data:`TRANSITIONS` is generated from both, plus the conductor's own moves (build,
  reschedule, power-state sync), and every change of state goes through
  :func:`check_transition`. A unit test checks that every row an action can start has
  an outcome, so no accepted action can leave a server in a state nobody completes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class VmState(StrEnum):
    BUILDING = "building"
    """Created by the API; not yet running anywhere."""
    ACTIVE = "active"
    """Running on its host."""
    STOPPED = "stopped"
    """Powered off by the user; keeps its host."""
    ERROR = "error"
    """Failed; a fault says why. Delete, rebuild, hard reboot or stop (if placed) get it out."""
    DELETED = "deleted"
    """Gone; row kept for history."""


class TaskState(StrEnum):
    SCHEDULING = "scheduling"
    """Waiting for a host to be chosen and claimed."""
    SPAWNING = "spawning"
    """The agent is creating the guest on the claimed host."""
    REBOOTING = "rebooting"
    REBOOTING_HARD = "rebooting_hard"
    POWERING_OFF = "powering-off"
    POWERING_ON = "powering-on"
    REBUILDING = "rebuilding"
    """The guest is re-created from an image on the same host."""
    DELETING = "deleting"


V, T = VmState, TaskState
Key = tuple[VmState, TaskState | None]

_TASK_STATUS = {
    T.REBOOTING: "REBOOT",
    T.REBOOTING_HARD: "HARD_REBOOT",
    T.REBUILDING: "REBUILD",
}
_VM_STATUS = {
    V.BUILDING: "BUILD",
    V.ACTIVE: "ACTIVE",
    V.STOPPED: "SHUTOFF",
    V.ERROR: "ERROR",
    V.DELETED: "DELETED",
}


def api_status(vm_state: str, task_state: str | None) -> str:
    """The ``status`` field of a server, as Nova computes it."""
    if task_state is not None and task_state in _TASK_STATUS:
        return _TASK_STATUS[TaskState(task_state)]
    return _VM_STATUS.get(VmState(vm_state), "UNKNOWN")


@dataclass(frozen=True, slots=True)
class Action:
    """A user action on a server and the states it may start from."""

    name: str
    """Its name in ``os-instance-actions`` (and in 409 messages)."""
    task: TaskState
    from_vm: frozenset[VmState]
    from_task: frozenset[TaskState | None] = frozenset({None})
    needs_host: bool = True
    """Only for a server that was placed: Nova's ``check_instance_host`` (409 not ready)."""

    def allows(self, vm_state: str, task_state: str | None) -> bool:
        """Whether the action may start from this pair (the host check aside)."""
        vm = VmState(vm_state)
        task = TaskState(task_state) if task_state else None
        return vm in self.from_vm and task in self.from_task


_LIVE = frozenset(v for v in VmState if v is not V.DELETED)
ACTIONS: dict[str, Action] = {
    # Nova: soft reboot only while ACTIVE; hard reboot also from SHUTOFF and ERROR, and
    # may overtake a soft reboot in flight.
    "reboot_soft": Action("reboot", T.REBOOTING, frozenset({V.ACTIVE})),
    "reboot_hard": Action(
        "reboot",
        T.REBOOTING_HARD,
        frozenset({V.ACTIVE, V.STOPPED, V.ERROR}),
        frozenset({None, T.REBOOTING}),
    ),
    "stop": Action("stop", T.POWERING_OFF, frozenset({V.ACTIVE, V.ERROR})),
    # Not the API's: the power sync's stop of a STOPPED server found running (Nova's
    # ``force_stop``), recorded as a "stop" like the user's.
    "force_stop": Action("stop", T.POWERING_OFF, frozenset({V.ACTIVE, V.STOPPED, V.ERROR})),
    "start": Action("start", T.POWERING_ON, frozenset({V.STOPPED})),
    "rebuild": Action("rebuild", T.REBUILDING, frozenset({V.ACTIVE, V.STOPPED, V.ERROR})),
    # A delete overtakes anything; one already deleting is answered again (idempotent).
    "delete": Action(
        "delete",
        T.DELETING,
        _LIVE,
        frozenset({None, *(t for t in TaskState if t is not T.DELETING)}),
        needs_host=False,
    ),
}
"""Every action a task starts from; the key is what the API (or the power sync) asks for."""

OUTCOMES: dict[Key, VmState] = {
    (V.BUILDING, T.SPAWNING): V.ACTIVE,
    (V.ACTIVE, T.REBOOTING): V.ACTIVE,
    (V.ACTIVE, T.REBOOTING_HARD): V.ACTIVE,
    (V.STOPPED, T.REBOOTING_HARD): V.ACTIVE,
    (V.ERROR, T.REBOOTING_HARD): V.ACTIVE,
    (V.ACTIVE, T.POWERING_OFF): V.STOPPED,
    (V.ERROR, T.POWERING_OFF): V.STOPPED,
    (V.STOPPED, T.POWERING_OFF): V.STOPPED,
    (V.STOPPED, T.POWERING_ON): V.ACTIVE,
    (V.ACTIVE, T.REBUILDING): V.ACTIVE,
    # Nova brings a rebuilt server back to its original state: a stopped one stays off.
    (V.STOPPED, T.REBUILDING): V.STOPPED,
    (V.ERROR, T.REBUILDING): V.ACTIVE,
    **{(vm, T.DELETING): V.DELETED for vm in _LIVE},
}
"""``(vm_state, task)`` -> ``vm_state`` once the task's op succeeded (task cleared)."""


def _transitions() -> dict[Key, set[Key]]:
    table: dict[Key, set[Key]] = {}

    def add(src: Key, *dsts: Key) -> None:
        table.setdefault(src, set()).update(dsts)

    for action in ACTIONS.values():
        for vm in action.from_vm:
            for task in action.from_task:
                add((vm, task), (vm, action.task))
    for (vm, task), done in OUTCOMES.items():
        add((vm, task), (done, None), (V.ERROR, None))
    # Build: placed -> spawning, no host -> ERROR; a failed spawn is rescheduled.
    add((V.BUILDING, T.SCHEDULING), (V.BUILDING, T.SPAWNING), (V.ERROR, None))
    add((V.BUILDING, T.SPAWNING), (V.BUILDING, T.SCHEDULING))
    # Any task may fail (an op's error, a deadline, a defect isolated by the workers):
    # ERROR with a fault is always a way out.
    for vm in _LIVE:
        for task in TaskState:
            add((vm, task), (V.ERROR, None))
    # Power-state sync from host reports: the guest stopped by itself, or vanished from
    # its host; a baremetal machine was switched on at its BMC (as Ironic's power-update
    # event to Nova). A STOPPED VM found running gets the "force_stop" task instead.
    add((V.ACTIVE, None), (V.STOPPED, None), (V.ERROR, None))
    add((V.STOPPED, None), (V.ACTIVE, None), (V.ERROR, None))
    return table


TRANSITIONS: dict[Key, set[Key]] = _transitions()
"""``(vm_state, task_state)`` -> the pairs it may change to."""


class IllegalTransition(Exception):
    """A change of instance state that the table does not allow."""


def check_transition(
    vm_state: str, task_state: str | None, new_vm: str, new_task: str | None
) -> None:
    """Raise ``IllegalTransition`` unless the change is a row of ``TRANSITIONS``."""
    src: Key = (VmState(vm_state), TaskState(task_state) if task_state else None)
    dst: Key = (VmState(new_vm), TaskState(new_task) if new_task else None)
    if dst not in TRANSITIONS.get(src, set()):
        raise IllegalTransition(f"{src[0]}/{src[1]} -> {dst[0]}/{dst[1]} is not allowed")


def outcome(vm_state: str, task_state: str) -> VmState:
    """Where a task ends when its op succeeded; ``IllegalTransition`` if it has no row."""
    key: Key = (VmState(vm_state), TaskState(task_state))
    if key not in OUTCOMES:
        raise IllegalTransition(f"{key[0]}/{key[1]} has no outcome")
    return OUTCOMES[key]


def action_conflict(action: Action, uuid: str, vm_state: str, task_state: str | None) -> str:
    """Nova's 409 message for an action the current state does not allow (vm_state is
    checked first, as Nova's ``check_instance_state`` does)."""
    if VmState(vm_state) not in action.from_vm:
        return f"Cannot '{action.name}' instance {uuid} while it is in vm_state {vm_state}"
    return f"Cannot '{action.name}' instance {uuid} while it is in task_state {task_state}"
