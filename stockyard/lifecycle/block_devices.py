"""Reading a server's block device mappings (``instances.block_devices``, written by
``stockyard.api.compute.server_bdm``): the API, the build and delete all ask the same
questions of them."""

from __future__ import annotations

from typing import Any

from stockyard.db.models import Instance


def mappings(inst: Instance) -> list[dict[str, Any]]:
    return [dict(m) for m in inst.block_devices or [] if isinstance(m, dict)]


def boot_volume_id(inst: Instance) -> str | None:
    """The volume a volume-backed server boots from (None: it boots from an image)."""
    for m in mappings(inst):
        if m.get("boot_index") == 0:
            return str(m["volume_id"]) if m.get("volume_id") else None
    return None


def is_volume_backed(inst: Instance) -> bool:
    return any(m.get("boot_index") == 0 for m in mappings(inst))
