"""Compute drivers and the registry that finds them by name.

Built-ins are listed here; plug-ins register under the entry-point group
``stockyard.compute.drivers`` (``name = "package.module:DriverClass"``). A built-in name
wins over a plug-in of the same name, so a plug-in cannot silently replace ``fake``.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any

from stockyard.compute.drivers.base import (
    ComputeDriver,
    DriverError,
    DriverNotSupported,
    HostResources,
    InstanceNotFound,
    InstanceSpec,
)

ENTRY_POINT_GROUP = "stockyard.compute.drivers"

# Import paths rather than classes: a driver's optional dependency (libvirt-python)
# is imported only when that driver is asked for.
_BUILTIN: dict[str, str] = {
    "fake": "stockyard.compute.drivers.fake:FakeDriver",
    "baremetal": "stockyard.compute.drivers.baremetal:BaremetalDriver",
    "libvirt": "stockyard.compute.drivers.libvirt:LibvirtDriver",
}


def _load(target: str) -> type[ComputeDriver]:
    module_name, _, attr = target.partition(":")
    obj = getattr(importlib.import_module(module_name), attr)
    if not (isinstance(obj, type) and issubclass(obj, ComputeDriver)):
        raise TypeError(f"{target} is not a ComputeDriver")
    return obj


def available_drivers() -> list[str]:
    """Names of the built-in and installed (entry-point) drivers."""
    names = set(_BUILTIN)
    names.update(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))
    return sorted(names)


def driver_class(name: str) -> type[ComputeDriver]:
    """The driver class registered as ``name``; ``DriverError`` if there is none."""
    if name in _BUILTIN:
        return _load(_BUILTIN[name])
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            cls = ep.load()
            if not (isinstance(cls, type) and issubclass(cls, ComputeDriver)):
                raise DriverError(f"Compute driver {name!r} ({ep.value}) is not a ComputeDriver")
            return cls
    known = ", ".join(available_drivers())
    raise DriverError(f"Unknown compute driver {name!r}; available: {known}")


def load_driver(name: str, **kwargs: Any) -> ComputeDriver:
    """Construct the driver registered as ``name`` with ``kwargs``."""
    return driver_class(name)(**kwargs)


__all__ = [
    "ENTRY_POINT_GROUP",
    "ComputeDriver",
    "DriverError",
    "DriverNotSupported",
    "HostResources",
    "InstanceNotFound",
    "InstanceSpec",
    "available_drivers",
    "driver_class",
    "load_driver",
]
