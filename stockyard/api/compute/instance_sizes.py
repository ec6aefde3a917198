"""What an instance holds, from the flavor snapshot taken when it was created."""

from __future__ import annotations

from dataclasses import dataclass

from stockyard.db.models import Instance


@dataclass(frozen=True)
class Size:
    vcpus: int
    memory_mb: int
    root_gb: int
    ephemeral_gb: int

    @property
    def local_gb(self) -> int:
        """Nova's local disk of an instance: root plus ephemeral (swap is not counted)."""
        return self.root_gb + self.ephemeral_gb


def size_of(inst: Instance) -> Size:
    # The snapshot, not the catalog flavor: a flavor edited or deleted later must not
    # change what an existing server is accounted for.
    snap = inst.flavor or {}
    return Size(
        vcpus=int(snap.get("vcpus") or 0),
        memory_mb=int(snap.get("ram") or 0),
        root_gb=int(snap.get("disk") or 0),
        ephemeral_gb=int(snap.get("ephemeral") or 0),
    )
