"""Volume backend drivers and the table that builds them from the settings.

A new backend (``lvm``, a Ceph ``rbd``) is one module with a :class:`VolumeDriver`
subclass and one entry in :data:`FACTORIES`; volume types pick a backend by the name
their ``volume_backend_name`` extra spec gives.
"""

from __future__ import annotations

from collections.abc import Callable

from stockyard.settings import Settings
from stockyard.volume.drivers.base import VolumeDriver, VolumeDriverError
from stockyard.volume.drivers.file import FileDriver
from stockyard.volume.drivers.lvm import LvmDriver


def _file(name: str, settings: Settings) -> VolumeDriver:
    directory = settings.volume_dir or settings.data_dir / "volumes"
    return FileDriver(name, directory.resolve(), settings.volume_file_format)


def _lvm(name: str, settings: Settings) -> VolumeDriver:
    return LvmDriver(name, settings.volume_lvm_group, clear=settings.volume_lvm_clear)


FACTORIES: dict[str, Callable[[str, Settings], VolumeDriver]] = {"file": _file, "lvm": _lvm}
"""driver kind -> factory(backend name, settings)."""


def build_backends(settings: Settings) -> dict[str, VolumeDriver]:
    """One driver per configured backend (``volume_backends``), by backend name."""
    backends: dict[str, VolumeDriver] = {}
    for name, kind in settings.volume_backends.items():
        factory = FACTORIES.get(kind)
        if factory is None:
            known = ", ".join(sorted(FACTORIES))
            raise VolumeDriverError(f"volume backend {name}: unknown driver {kind!r} ({known})")
        backends[name] = factory(name, settings)
    return backends


__all__ = ["FACTORIES", "VolumeDriver", "VolumeDriverError", "build_backends"]
