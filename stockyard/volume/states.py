"""Volume and snapshot statuses (Cinder's names) and the one table of what each user
action needs and what the volume role does from each -ing status.

The API decides "400 or go" only through :func:`may` and writes the action's -ing status;
the volume role moves a row out of an -ing status (to the done status or the action's
error status) and nothing else does, except an admin's ``os-reset_status``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class VolumeStatus(StrEnum):
    CREATING = "creating"
    """The volume role is making the volume on its backend."""
    AVAILABLE = "available"
    """Ready to attach, extend, snapshot or delete."""
    RESERVED = "reserved"
    """Held for an attachment being set up (attachments API, next slice)."""
    ATTACHING = "attaching"
    """An attach is in progress (next slice)."""
    IN_USE = "in-use"
    """Attached to a server."""
    DETACHING = "detaching"
    """A detach is in progress (next slice)."""
    DELETING = "deleting"
    """The volume role is removing the volume (and, with cascade, its snapshots)."""
    ERROR = "error"
    """Creating failed; ``status_reason`` says why. May be deleted."""
    ERROR_DELETING = "error_deleting"
    """Deleting failed; an admin resets the status to retry."""
    EXTENDING = "extending"
    """The volume role is growing the volume to ``new_size``."""
    ERROR_EXTENDING = "error_extending"
    """Extending failed; the volume keeps its old size. May be deleted."""


class SnapshotStatus(StrEnum):
    CREATING = "creating"
    AVAILABLE = "available"
    DELETING = "deleting"
    ERROR = "error"
    ERROR_DELETING = "error_deleting"


@dataclass(frozen=True)
class Action:
    """A user action: the statuses it starts from and the -ing status it writes."""

    name: str
    sources: tuple[str, ...]
    target: str


V = VolumeStatus
S = SnapshotStatus

VOLUME_ACTIONS = {
    "delete": Action(
        "delete",
        (V.AVAILABLE, V.ERROR, "error_restoring", V.ERROR_EXTENDING, "error_managing"),
        V.DELETING,
    ),
    "extend": Action("extend", (V.AVAILABLE,), V.EXTENDING),
    "snapshot": Action("snapshot", (V.AVAILABLE,), V.AVAILABLE),
    "snapshot_force": Action("snapshot_force", (V.AVAILABLE, V.IN_USE), V.AVAILABLE),
}
SNAPSHOT_ACTIONS = {
    "delete": Action("delete", (S.AVAILABLE, S.ERROR), S.DELETING),
}

# What the volume role does from each -ing status: (done status or None = row removed,
# error status).
VOLUME_WORK: dict[str, tuple[str | None, str]] = {
    V.CREATING: (V.AVAILABLE, V.ERROR),
    V.DELETING: (None, V.ERROR_DELETING),
    V.EXTENDING: (V.AVAILABLE, V.ERROR_EXTENDING),
}
SNAPSHOT_WORK: dict[str, tuple[str | None, str]] = {
    S.CREATING: (S.AVAILABLE, S.ERROR),
    S.DELETING: (None, S.ERROR_DELETING),
}

# Statuses an admin may set with os-reset_status (Cinder's lists).
VOLUME_RESET = frozenset({*VolumeStatus, "maintenance", "error_restoring", "error_managing"})
SNAPSHOT_RESET = frozenset(SnapshotStatus)
ATTACH_STATUSES = frozenset({"attached", "detached"})


def may(action: Action, status: str) -> bool:
    """Whether ``action`` may start from ``status``."""
    return status in action.sources
