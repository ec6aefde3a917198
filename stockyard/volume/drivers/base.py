"""The backend contract every volume driver implements (``file``, ``lvm``; a Ceph RBD
driver plugs in the same way: :mod:`stockyard.volume.drivers.lvm` says what it returns).

Drivers see plain references, never database rows: the volume role owns the rows and
passes what a backend needs (id, size, and the ``provider_location`` the driver returned
when it created the thing). Every verb is idempotent, because the role re-runs a step
after a crash: creating what exists (same size) returns its location, deleting what is
gone succeeds. A driver raises :class:`VolumeDriverError` (or a subclass) with a message
the user can read; the role puts it in the row's ``status_reason``.
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar


class VolumeDriverError(Exception):
    """A backend operation failed; the message is shown to the user."""


class BackendFull(VolumeDriverError):
    """The backend has not the free capacity an operation needs."""


@dataclass(frozen=True)
class VolumeRef:
    """A volume as a backend sees it; ``location`` is None before the first create."""

    id: str
    size_gb: int
    location: str | None = None


@dataclass(frozen=True)
class SnapshotRef:
    """A snapshot of ``volume`` as a backend sees it."""

    id: str
    volume: VolumeRef
    location: str | None = None


@dataclass(frozen=True)
class Connector:
    """Who wants to attach (os-brick's connector properties, as Nova sends them)."""

    host: str
    initiator: str | None = None
    ip: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ConnectionInfo:
    """How a hypervisor reaches the volume: ``driver_volume_type`` is the protocol name
    Nova's libvirt volume drivers key on (``file``, ``iscsi``, ``rbd``...), ``data`` its
    parameters."""

    driver_volume_type: str
    data: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"driver_volume_type": self.driver_volume_type, "data": dict(self.data)}


@dataclass(frozen=True)
class BackendStats:
    """Capacity for refusals that say why ("backend full: 3 GiB free, 10 asked")."""

    total_gb: float
    free_gb: float


def check_image_fits(info: dict[str, Any], volume: VolumeRef) -> None:
    """Refuse, with Cinder's words, an image (``qemu-img info`` JSON) larger than the volume."""
    image_gb = math.ceil(int(info.get("virtual-size") or 0) / 1024**3)
    if image_gb > volume.size_gb:
        raise VolumeDriverError(
            f"Image virtual size is {image_gb}GB and doesn't fit in a volume of size "
            f"{volume.size_gb}GB."
        )


class VolumeDriver(abc.ABC):
    """One backend. Core verbs are abstract; optional ones have working defaults."""

    kind: ClassVar[str]
    """The driver's name in settings (``volume_backends: {name: kind}``)."""

    def __init__(self, backend_name: str) -> None:
        self.backend_name = backend_name

    async def check(self) -> None:  # noqa: B027  (optional: most need no check)
        """Cheap readiness check at start (tools present, storage reachable); raises
        :class:`VolumeDriverError` naming what is missing."""

    @abc.abstractmethod
    async def stats(self) -> BackendStats:
        """The backend's capacity now."""

    @abc.abstractmethod
    async def create(self, volume: VolumeRef) -> str:
        """Create an empty volume of ``volume.size_gb``; return its location."""

    @abc.abstractmethod
    async def delete(self, volume: VolumeRef) -> None:
        """Remove the volume's data; a volume that is not there is already deleted."""

    @abc.abstractmethod
    async def extend(self, volume: VolumeRef, new_size_gb: int) -> None:
        """Grow the volume to ``new_size_gb`` (never shrinks)."""

    @abc.abstractmethod
    async def create_snapshot(self, snapshot: SnapshotRef) -> str:
        """Take a point-in-time copy of ``snapshot.volume``; return its location."""

    @abc.abstractmethod
    async def delete_snapshot(self, snapshot: SnapshotRef) -> None:
        """Remove the snapshot; one that is not there is already deleted."""

    @abc.abstractmethod
    async def create_from_snapshot(self, volume: VolumeRef, snapshot: SnapshotRef) -> str:
        """Create ``volume`` with the snapshot's content (grown to ``volume.size_gb``)."""

    @abc.abstractmethod
    async def clone(self, volume: VolumeRef, source: VolumeRef) -> str:
        """Create ``volume`` with ``source``'s content (grown to ``volume.size_gb``)."""

    @abc.abstractmethod
    async def create_from_image(self, volume: VolumeRef, image: Path, image_format: str) -> str:
        """Create ``volume`` holding the image file ``image`` (``raw``, ``qcow2``...) as a
        disk, grown to ``volume.size_gb``; an image larger than that is refused
        (:func:`check_image_fits`)."""

    @abc.abstractmethod
    async def initialize_connection(
        self, volume: VolumeRef, connector: Connector
    ) -> ConnectionInfo:
        """Export the volume to ``connector.host`` and say how to reach it."""

    async def terminate_connection(  # noqa: B027  (optional: exports are per backend)
        self, volume: VolumeRef, connector: Connector
    ) -> None:
        """Withdraw an export; backends whose volumes need none keep this default."""
