"""The slow steps of the volume role, one per (resource, -ing status), each idempotent.

A step reads the row, calls the backend and returns the outcome; :mod:`service` owns the
lease and writes the outcome. A step raises :class:`StepFailed` (or a driver error) with
a message the user can read; it becomes the row's ``status_reason``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from stockyard.db.base import Database, delete_once
from stockyard.db.models import Image, Volume, VolumeSnapshot, VolumeType
from stockyard.image.store import ImageStore
from stockyard.settings import Settings
from stockyard.volume.drivers.base import SnapshotRef, VolumeDriver, VolumeRef
from stockyard.volume.states import SnapshotStatus, VolumeStatus

log = logging.getLogger(__name__)

BACKEND_SPEC = "volume_backend_name"


class StepFailed(Exception):
    """A step cannot succeed; the message is shown to the user."""


@dataclass
class Outcome:
    """What a step did: new column values, or ``removed`` (the row is to be deleted)."""

    values: dict[str, Any] = field(default_factory=dict)
    removed: bool = False


def volume_ref(volume: Volume, size_gb: int | None = None) -> VolumeRef:
    return VolumeRef(volume.id, size_gb or volume.size, volume.provider_location)


class Steps:
    """The steps; ``backends`` are the drivers this role serves, by backend name."""

    def __init__(self, db: Database, settings: Settings, backends: dict[str, VolumeDriver]):
        self.db = db
        self.settings = settings
        self.backends = backends
        self.broken: dict[str, str] = {}
        """Backends whose start check failed, with the reason."""

    def driver(self, name: str | None) -> VolumeDriver:
        backend = name or self.settings.volume_default_backend
        if backend in self.broken:
            raise StepFailed(f"Volume backend {backend} is unavailable: {self.broken[backend]}")
        driver = self.backends.get(backend)
        if driver is None:
            served = ", ".join(sorted(self.backends)) or "none"
            raise StepFailed(
                f"No valid backend was found: no volume backend named {backend!r} is served "
                f"(served: {served})."
            )
        return driver

    async def _backend_for_new(self, volume: Volume) -> str:
        """The backend of a volume being created: its source's, else its type's."""
        async with self.db.session() as s:
            if volume.snapshot_id:
                snap = await s.get(VolumeSnapshot, volume.snapshot_id)
                source = await s.get(Volume, snap.volume_id) if snap else None
                if source is None or source.backend is None:
                    raise StepFailed(f"Snapshot {volume.snapshot_id} could not be found.")
                return source.backend
            if volume.source_volid:
                source = await s.get(Volume, volume.source_volid)
                if source is None or source.backend is None:
                    raise StepFailed(f"Volume {volume.source_volid} could not be found.")
                return source.backend
            vtype = await s.get(VolumeType, volume.volume_type_id)
        spec = (vtype.extra_specs or {}).get(BACKEND_SPEC) if vtype else None
        return str(spec) if spec else self.settings.volume_default_backend

    async def run_volume(self, volume: Volume) -> Outcome:
        if volume.status == VolumeStatus.CREATING:
            return await self._create(volume)
        if volume.status == VolumeStatus.EXTENDING:
            new_size = volume.new_size or volume.size
            await self.driver(volume.backend).extend(volume_ref(volume), new_size)
            return Outcome({"size": new_size, "new_size": None})
        if volume.status == VolumeStatus.DELETING:
            return await self._delete(volume)
        raise StepFailed(f"nothing to do for a volume in status {volume.status}")

    async def _create(self, volume: Volume) -> Outcome:
        backend = volume.backend or await self._backend_for_new(volume)
        driver = self.driver(backend)
        ref = VolumeRef(volume.id, volume.size)
        async with self.db.session() as s:
            snap = await s.get(VolumeSnapshot, volume.snapshot_id) if volume.snapshot_id else None
            source = await s.get(Volume, volume.source_volid) if volume.source_volid else None
        if volume.snapshot_id:
            if snap is None:
                raise StepFailed(f"Snapshot {volume.snapshot_id} could not be found.")
            parent = VolumeRef(snap.volume_id, snap.size)
            location = await driver.create_from_snapshot(
                ref, SnapshotRef(snap.id, parent, snap.provider_location)
            )
        elif volume.source_volid:
            if source is None:
                raise StepFailed(f"Volume {volume.source_volid} could not be found.")
            location = await driver.clone(ref, volume_ref(source))
        elif volume.image_id:
            path, fmt = await self._image_file(volume.image_id)
            location = await driver.create_from_image(ref, path, fmt)
        else:
            location = await driver.create(ref)
        return Outcome({"provider_location": location, "backend": backend})

    async def _image_file(self, image_id: str) -> tuple[Path, str]:
        """The stored file of an image to copy onto a volume, and its disk format."""
        async with self.db.session() as s:
            image = await s.get(Image, image_id)
        if image is None or image.status != "active" or not image.location:
            raise StepFailed(f"Image {image_id} is not available to copy onto the volume.")
        path = ImageStore(self.settings.data_dir / "images").path_for(image.location)
        return path, image.disk_format or "raw"

    async def _delete(self, volume: Volume) -> Outcome:
        if volume.backend is None:
            # Never made on a backend (failed before, or no backend served it).
            return Outcome(removed=True)
        driver = self.driver(volume.backend)
        if volume.cascade:
            async with self.db.session() as s:
                snaps = list(
                    await s.scalars(
                        select(VolumeSnapshot).where(VolumeSnapshot.volume_id == volume.id)
                    )
                )
            for snap in snaps:
                await driver.delete_snapshot(
                    SnapshotRef(snap.id, volume_ref(volume), snap.provider_location)
                )
                async with self.db.session() as s:
                    row = await s.get(VolumeSnapshot, snap.id)
                    if row is not None:
                        await delete_once(s, row)  # or gone meanwhile: as wanted
        await driver.delete(volume_ref(volume))
        return Outcome(removed=True)

    async def run_snapshot(self, snap: VolumeSnapshot) -> Outcome:
        async with self.db.session() as s:
            volume = await s.get(Volume, snap.volume_id)
        if volume is None:
            raise StepFailed(f"Volume {snap.volume_id} could not be found.")
        ref = SnapshotRef(snap.id, volume_ref(volume), snap.provider_location)
        if snap.status == SnapshotStatus.CREATING:
            location = await self.driver(volume.backend).create_snapshot(ref)
            return Outcome({"provider_location": location, "progress": "100%"})
        if snap.status == SnapshotStatus.DELETING:
            if snap.provider_location is not None:
                await self.driver(volume.backend).delete_snapshot(ref)
            return Outcome(removed=True)
        raise StepFailed(f"nothing to do for a snapshot in status {snap.status}")
