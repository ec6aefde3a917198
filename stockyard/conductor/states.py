"""Instance states (Nova's vocabulary) and the one table of legal transitions.

``vm_state`` is the stable state, ``task_state`` the operation in flight (None when idle).
The API maps the pair to the user-visible ``status`` with ``api_status``. Every change of
``(vm_state, task_state)`` made by the conductor must be a row of ``TRANSITIONS``.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum


class VmState(StrEnum):
    BUILDING = "building"
    """Created by the API; not yet running anywhere."""
    ACTIVE = "active"
    """Running on its host."""
    STOPPED = "stopped"
    """Powered off by the user; keeps its host."""
    ERROR = "error"
    """Failed; a fault says why. Only delete (or rebuild) gets it out."""
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


class PowerState(IntEnum):
    NOSTATE = 0
    RUNNING = 1
    PAUSED = 3
    SHUTDOWN = 4
    CRASHED = 6
    SUSPENDED = 7


_TASK_STATUS = {
    TaskState.REBOOTING: "REBOOT",
    TaskState.REBOOTING_HARD: "HARD_REBOOT",
    TaskState.REBUILDING: "REBUILD",
}
_VM_STATUS = {
    VmState.BUILDING: "BUILD",
    VmState.ACTIVE: "ACTIVE",
    VmState.STOPPED: "SHUTOFF",
    VmState.ERROR: "ERROR",
    VmState.DELETED: "DELETED",
}


def api_status(vm_state: str, task_state: str | None) -> str:
    """The ``status`` field of a server, as Nova computes it."""
    if task_state is not None and task_state in _TASK_STATUS:
        return _TASK_STATUS[TaskState(task_state)]
    return _VM_STATUS.get(VmState(vm_state), "UNKNOWN")


# (vm_state, task_state) -> set of allowed next (vm_state, task_state).
Key = tuple[VmState, TaskState | None]
V, T = VmState, TaskState
TRANSITIONS: dict[Key, set[Key]] = {
    (V.BUILDING, T.SCHEDULING): {
        (V.BUILDING, T.SPAWNING),
        (V.ERROR, None),
        (V.BUILDING, T.DELETING),
    },
    (V.BUILDING, T.SPAWNING): {
        (V.ACTIVE, None),
        (V.ERROR, None),
        (V.BUILDING, T.SCHEDULING),  # reschedule to an alternate host
        (V.BUILDING, T.DELETING),
    },
    (V.ACTIVE, None): {
        (V.ACTIVE, T.REBOOTING),
        (V.ACTIVE, T.REBOOTING_HARD),
        (V.ACTIVE, T.POWERING_OFF),
        (V.ACTIVE, T.REBUILDING),
        (V.ACTIVE, T.DELETING),
        (V.STOPPED, None),  # power-state sync: the guest shut down by itself
        (V.ERROR, None),
    },
    (V.ACTIVE, T.REBOOTING): {
        (V.ACTIVE, None),
        (V.ERROR, None),
        (V.ACTIVE, T.REBOOTING_HARD),
        (V.ACTIVE, T.DELETING),
    },
    (V.ACTIVE, T.REBOOTING_HARD): {(V.ACTIVE, None), (V.ERROR, None), (V.ACTIVE, T.DELETING)},
    (V.ACTIVE, T.POWERING_OFF): {(V.STOPPED, None), (V.ERROR, None), (V.ACTIVE, T.DELETING)},
    (V.ACTIVE, T.REBUILDING): {(V.ACTIVE, None), (V.ERROR, None), (V.ACTIVE, T.DELETING)},
    (V.STOPPED, None): {
        (V.STOPPED, T.POWERING_ON),
        (V.STOPPED, T.REBUILDING),
        (V.STOPPED, T.DELETING),
        (V.STOPPED, T.REBOOTING_HARD),
        (V.ACTIVE, None),  # power-state sync: started outside the API
        (V.ERROR, None),
    },
    (V.STOPPED, T.POWERING_ON): {(V.ACTIVE, None), (V.ERROR, None), (V.STOPPED, T.DELETING)},
    (V.STOPPED, T.REBUILDING): {
        (V.STOPPED, None),
        (V.ACTIVE, None),
        (V.ERROR, None),
        (V.STOPPED, T.DELETING),
    },
    (V.STOPPED, T.REBOOTING_HARD): {(V.ACTIVE, None), (V.ERROR, None), (V.STOPPED, T.DELETING)},
    (V.ERROR, None): {(V.ERROR, T.DELETING), (V.ERROR, T.REBUILDING), (V.ERROR, T.REBOOTING_HARD)},
    (V.ERROR, T.REBUILDING): {(V.ACTIVE, None), (V.ERROR, None), (V.ERROR, T.DELETING)},
    (V.ERROR, T.REBOOTING_HARD): {(V.ACTIVE, None), (V.ERROR, None), (V.ERROR, T.DELETING)},
}
for _vm in VmState:
    if _vm is not VmState.DELETED:
        TRANSITIONS.setdefault((_vm, T.DELETING), set()).update(
            {(V.DELETED, None), (V.ERROR, None)}
        )


class IllegalTransition(Exception):
    """A change of state that the table does not allow."""


def check_transition(
    vm_state: str, task_state: str | None, new_vm: str, new_task: str | None
) -> None:
    """Raise ``IllegalTransition`` unless the change is a row of ``TRANSITIONS``."""
    src: Key = (VmState(vm_state), TaskState(task_state) if task_state else None)
    dst: Key = (VmState(new_vm), TaskState(new_task) if new_task else None)
    if dst not in TRANSITIONS.get(src, set()):
        raise IllegalTransition(f"{src[0]}/{src[1]} -> {dst[0]}/{dst[1]} is not allowed")


TRANSITIONAL = {t.value for t in TaskState}
