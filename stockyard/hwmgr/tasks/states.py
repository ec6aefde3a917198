"""State tables of hwmgr, Ironic style: states with docstrings, one line per transition.

Two lifecycles live here: the install/clean *task* and the *node* provision state. Every
change of either goes through ``Machine.next`` so an illegal move raises instead of
silently writing a state that no table allows.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class EventNotAllowed(Exception):
    """An event that the current state does not accept."""


@dataclass(frozen=True)
class Machine:
    """A finite state machine: ``(source, event) -> target``."""

    name: str
    states: dict[str, str]
    terminal: frozenset[str]
    transitions: dict[tuple[str, str], str] = field(default_factory=dict)

    def add(self, source: str, event: str, target: str) -> None:
        assert source in self.states and target in self.states, (source, target)
        self.transitions[(source, event)] = target

    def next(self, source: str, event: str) -> str:
        """The state after ``event`` in ``source``; raises ``EventNotAllowed``."""
        try:
            return self.transitions[(source, event)]
        except KeyError:
            raise EventNotAllowed(
                f"{self.name}: event {event!r} is not allowed in state {source!r}"
            ) from None

    def events(self) -> set[str]:
        return {event for _, event in self.transitions}


# --- task states ------------------------------------------------------------------------
QUEUED = "queued"
POWERING_OFF = "powering_off"
SETTING_PXE = "setting_pxe"
POWERING_ON = "powering_on"
INSTALLING = "installing"
REBOOTING = "rebooting"
DONE = "done"
FAILED = "failed"

TASK_STATES = {
    QUEUED: "Accepted; for installs the image is fetched into the cache here.",
    POWERING_OFF: "BMC power off, then wait until the BMC reports off.",
    SETTING_PXE: "BMC one-time boot from network.",
    POWERING_ON: "BMC power on; the node boots the installer over PXE.",
    INSTALLING: "The installer runs (writes the image or wipes); waits for its call-back.",
    REBOOTING: "Install: power cycle to boot from disk. Clean: final power off.",
    DONE: "Finished; the node is active (install) or available (clean).",
    FAILED: "Finished with a reason in last_error; the node is in error.",
}

TASK = Machine("task", TASK_STATES, frozenset({DONE, FAILED}))
TASK.add(QUEUED, "start", POWERING_OFF)
TASK.add(POWERING_OFF, "powered_off", SETTING_PXE)
TASK.add(SETTING_PXE, "pxe_set", POWERING_ON)
TASK.add(POWERING_ON, "powered_on", INSTALLING)
TASK.add(INSTALLING, "called_back", REBOOTING)
TASK.add(REBOOTING, "rebooted", DONE)
TASK.add(QUEUED, "fail", FAILED)
TASK.add(POWERING_OFF, "fail", FAILED)
TASK.add(SETTING_PXE, "fail", FAILED)
TASK.add(POWERING_ON, "fail", FAILED)
TASK.add(INSTALLING, "fail", FAILED)
TASK.add(REBOOTING, "fail", FAILED)

# --- node provision states --------------------------------------------------------------
ENROLLED = "enrolled"
AVAILABLE = "available"
DEPLOYING = "deploying"
ACTIVE = "active"
CLEANING = "cleaning"
ERROR = "error"

NODE_STATES = {
    ENROLLED: "Known, BMC not yet verified.",
    AVAILABLE: "BMC verified and disk clean; can be deployed.",
    DEPLOYING: "An install task runs.",
    ACTIVE: "Installed and booted from disk.",
    CLEANING: "A clean task runs after release.",
    ERROR: "A task or BMC check failed; see last_error. Release cleans it, manage re-checks.",
}

NODE = Machine("node", NODE_STATES, frozenset())
NODE.add(ENROLLED, "manage", AVAILABLE)
NODE.add(ERROR, "manage", AVAILABLE)
NODE.add(AVAILABLE, "deploy", DEPLOYING)
NODE.add(DEPLOYING, "deployed", ACTIVE)
NODE.add(DEPLOYING, "fail", ERROR)
NODE.add(ACTIVE, "release", CLEANING)
NODE.add(ERROR, "release", CLEANING)
NODE.add(CLEANING, "cleaned", AVAILABLE)
NODE.add(CLEANING, "fail", ERROR)

# Where a node may be deleted from: nothing runs on it.
NODE_DELETABLE = frozenset({ENROLLED, AVAILABLE, ERROR})
# Where synchronous BMC calls from the API are allowed: no task owns the node.
NODE_IDLE = frozenset({ENROLLED, AVAILABLE, ACTIVE, ERROR})
