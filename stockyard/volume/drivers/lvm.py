"""The ``lvm`` backend: one logical volume per volume in a volume group of the volume host,
made with Debian's lvm2 tools in asyncio subprocesses, data copied with ``qemu-img``.

Names follow Cinder's LVM driver: ``volume-<id>`` and ``snapshot-<id>`` in the group
``volume_lvm_group``. A copy (from a snapshot, a volume or an image) is written into
``volume-<id>.part`` and renamed when complete, so a crash mid-copy never leaves a
half-made volume under the real name and a re-run starts clean. A snapshot is an LVM
copy-on-write snapshot as large as its origin (Cinder's ``lvm_type = default``); a clone
copies from a temporary snapshot of the source, so the source may stay in use. A deleted
volume is zeroed first (Cinder's ``volume_clear = zero``): the next volume cut from
those extents must not show the last tenant's data.

Connection info is ``{"driver_volume_type": "local", "data": {"device_path":
"/dev/<group>/volume-<id>"}}`` (os-brick's local connector): the logical volume is a
block device on the volume host, so a guest reaches it when its hypervisor is that host,
as in an all-in-one cloud. A multi-host LVM deployment exports the volume (Cinder does
it over iSCSI: ``iscsi`` with ``target_portal``/``target_iqn``/``target_lun``).

A Ceph RBD driver plugs into the same contract: ``create`` is ``rbd create`` in a pool,
``create_snapshot``/``create_from_snapshot`` RBD snapshots and clones, capacity from
``ceph df``, and ``initialize_connection`` returns ``{"driver_volume_type": "rbd",
"data": {"name": "<pool>/volume-<id>", "hosts": [monitor addresses], "ports": [monitor
ports], "auth_enabled": true, "auth_username": "cinder", "secret_type": "ceph",
"secret_uuid": <libvirt secret uuid>, "cluster_name": "ceph", "volume_id": <id>}}`` (what
Cinder's RBD driver returns); the libvirt driver turns that into a network ``<disk>``.

Logical volumes are block devices of the kernel's device-mapper: a host whose kernel has
none (some micro-VM kernels) cannot serve this backend, and ``check`` says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
from pathlib import Path
from typing import Literal

from stockyard.children import child_options
from stockyard.volume.drivers.base import (
    BackendFull,
    BackendStats,
    ConnectionInfo,
    Connector,
    SnapshotRef,
    VolumeDriver,
    VolumeDriverError,
    VolumeRef,
    check_image_fits,
)

GiB = 1024**3
LVM_TIMEOUT = 120.0
COPY_TIMEOUT = 3600.0
# lvm2 complains about every inherited descriptor on stderr; the complaints are noise.
_LVM_ENV = {**os.environ, "LVM_SUPPRESS_FD_WARNINGS": "1"}


class LvmDriver(VolumeDriver):
    """Volumes as logical volumes of ``group``."""

    kind = "lvm"

    def __init__(
        self,
        backend_name: str,
        group: str,
        *,
        clear: Literal["zero", "none"] = "zero",
        qemu_img: str = "qemu-img",
    ) -> None:
        super().__init__(backend_name)
        self.group = group
        self.clear = clear
        self.qemu_img = qemu_img

    # -- plumbing ----------------------------------------------------------------------

    async def _exec(
        self, *args: str, limit_s: float = LVM_TIMEOUT, kill_with_parent: bool = False
    ) -> str:
        """Run a command; its stdout, or ``VolumeDriverError`` quoting its stderr."""
        try:
            proc = await asyncio.create_subprocess_exec(
                *args,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=_LVM_ENV,
                # LVM metadata commands are short and must not be cut half-way; a long
                # data copy dies with the role instead and is redone on the re-run.
                **(child_options() if kill_with_parent else {}),
            )
        except FileNotFoundError:
            raise VolumeDriverError(
                f"lvm backend {self.backend_name}: {args[0]} is not installed "
                "(apt-get install lvm2 qemu-utils)"
            ) from None
        try:
            async with asyncio.timeout(limit_s):
                out, err = await proc.communicate()
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise VolumeDriverError(f"{args[0]} did not finish in {limit_s:.0f} s") from None
        if proc.returncode != 0:
            lines = [
                line.strip()
                for line in err.decode(errors="replace").splitlines()
                if line.strip() and "leaked on" not in line
            ]
            message = "; ".join(lines) or f"exit status {proc.returncode}"
            raise VolumeDriverError(f"{Path(args[0]).name} {args[1]} failed: {message}")
        return out.decode(errors="replace")

    def _lv(self, name: str) -> str:
        return f"{self.group}/{name}"

    def device(self, name: str) -> str:
        return f"/dev/{self.group}/{name}"

    async def _size_gb(self, name: str) -> float | None:
        """The size of logical volume ``name`` in GiB, None when there is none."""
        out = await self._exec(
            "lvs", "--noheadings", "--units", "b", "--nosuffix", "-o", "lv_name,lv_size",
            self.group,
        )  # fmt: skip
        for line in out.splitlines():
            fields = line.split()
            if len(fields) == 2 and fields[0] == name:
                return int(fields[1]) / GiB
        return None

    async def _remove(self, name: str, clear: bool) -> None:
        if await self._size_gb(name) is None:
            return
        if clear and self.clear == "zero":
            await self._exec(
                "blkdiscard", "--zeroout", self.device(name),
                limit_s=COPY_TIMEOUT, kill_with_parent=True,
            )  # fmt: skip
        await self._exec("lvremove", "-y", "-f", self._lv(name))

    async def _ensure_free(self, size_gb: float) -> None:
        stats = await self.stats()
        if stats.free_gb < size_gb:
            raise BackendFull(
                f"backend {self.backend_name} is full: {stats.free_gb:.2f} GiB free of "
                f"{stats.total_gb:.1f} GiB in volume group {self.group}, {size_gb:g} GiB asked"
            )

    async def _lvcreate(self, name: str, size_gb: int) -> None:
        await self._ensure_free(size_gb)
        # -Wy -Zy: wipe old signatures and the first KiB, so a new volume never mounts
        # as what used those extents before (the rest was zeroed when that was deleted).
        await self._exec(
            "lvcreate", "-y", "-Wy", "-Zy", "-L", f"{size_gb}g", "-n", name, self.group
        )

    # -- the contract ------------------------------------------------------------------

    async def check(self) -> None:
        for tool in ("lvm", "dmsetup", "blkdiscard", self.qemu_img):
            if shutil.which(tool) is None:
                raise VolumeDriverError(
                    f"lvm backend {self.backend_name}: {tool} not found "
                    "(apt-get install lvm2 util-linux qemu-utils)"
                )
        try:
            await self._exec("vgs", "--noheadings", "-o", "vg_name", self.group)
        except VolumeDriverError as exc:
            raise VolumeDriverError(
                f"lvm backend {self.backend_name}: volume group {self.group} is not "
                f"usable ({exc}); create it with vgcreate {self.group} <device>"
            ) from None
        try:
            await self._exec("dmsetup", "version")
        except VolumeDriverError:
            raise VolumeDriverError(
                f"lvm backend {self.backend_name}: this host's kernel has no device-mapper "
                "(/dev/mapper/control does not answer), so logical volumes cannot be "
                "activated; load dm_mod or use another backend"
            ) from None

    async def stats(self) -> BackendStats:
        out = await self._exec(
            "vgs", "--noheadings", "--units", "b", "--nosuffix", "-o", "vg_size,vg_free",
            self.group,
        )  # fmt: skip
        try:
            total, free = (int(v) for v in out.split())
        except ValueError:
            raise VolumeDriverError(f"vgs said {out.strip()!r} for {self.group}") from None
        return BackendStats(total_gb=total / GiB, free_gb=free / GiB)

    async def create(self, volume: VolumeRef) -> str:
        name = f"volume-{volume.id}"
        size = await self._size_gb(name)
        if size is None:
            await self._lvcreate(name, volume.size_gb)
        elif size < volume.size_gb:
            await self._exec("lvextend", "-L", f"{volume.size_gb}g", self._lv(name))
        return self.device(name)

    async def delete(self, volume: VolumeRef) -> None:
        await self._remove(f"volume-{volume.id}.part", clear=True)
        await self._remove(f"volume-{volume.id}", clear=True)

    async def extend(self, volume: VolumeRef, new_size_gb: int) -> None:
        name = f"volume-{volume.id}"
        size = await self._size_gb(name)
        if size is None:
            raise VolumeDriverError(f"volume {volume.id}: its logical volume {name} is missing")
        if size >= new_size_gb:
            return  # a re-run after the resize was done
        await self._ensure_free(new_size_gb - size)
        await self._exec("lvextend", "-L", f"{new_size_gb}g", self._lv(name))

    async def create_snapshot(self, snapshot: SnapshotRef) -> str:
        name = f"snapshot-{snapshot.id}"
        if await self._size_gb(name) is None:
            await self._snapshot(name, snapshot.volume)
        return self.device(name)

    async def _snapshot(self, name: str, origin: VolumeRef) -> None:
        source = f"volume-{origin.id}"
        if await self._size_gb(source) is None:
            raise VolumeDriverError(f"volume {origin.id}: its logical volume {source} is missing")
        await self._ensure_free(origin.size_gb)
        await self._exec(
            "lvcreate", "-y", "-s", "-L", f"{origin.size_gb}g", "-n", name, self._lv(source)
        )

    async def delete_snapshot(self, snapshot: SnapshotRef) -> None:
        # The exception store of a COW snapshot holds the origin's old blocks: no clear.
        await self._remove(f"snapshot-{snapshot.id}", clear=False)

    async def create_from_snapshot(self, volume: VolumeRef, snapshot: SnapshotRef) -> str:
        name = f"snapshot-{snapshot.id}"
        if await self._size_gb(name) is None:
            raise VolumeDriverError(f"snapshot {snapshot.id} is missing on {self.backend_name}")
        return await self._copy(volume, self.device(name), "raw")

    async def clone(self, volume: VolumeRef, source: VolumeRef) -> str:
        temp = f"clone-snap-{volume.id}"
        if await self._size_gb(temp) is None:
            await self._snapshot(temp, source)
        try:
            return await self._copy(volume, self.device(temp), "raw")
        finally:
            await asyncio.shield(self._remove(temp, clear=False))

    async def create_from_image(self, volume: VolumeRef, image: Path, image_format: str) -> str:
        out = await self._exec(
            self.qemu_img, "info", "--output=json", "-f", image_format, str(image)
        )
        check_image_fits(json.loads(out), volume)
        return await self._copy(volume, str(image), image_format)

    async def _copy(self, volume: VolumeRef, source: str, source_fmt: str) -> str:
        name, part = f"volume-{volume.id}", f"volume-{volume.id}.part"
        if await self._size_gb(name) is not None:
            return self.device(name)  # a re-run after the rename
        await self._remove(part, clear=True)  # a copy cut by a crash: start again
        await self._lvcreate(part, volume.size_gb)
        await self._exec(
            self.qemu_img, "convert", "-q", "-n", "-f", source_fmt, "-O", "raw",
            source, self.device(part), limit_s=COPY_TIMEOUT, kill_with_parent=True,
        )  # fmt: skip
        await self._exec("lvrename", self.group, part, name)
        return self.device(name)

    async def initialize_connection(
        self, volume: VolumeRef, connector: Connector
    ) -> ConnectionInfo:
        name = f"volume-{volume.id}"
        with contextlib.suppress(VolumeDriverError):
            # Activated at create; a host restart may leave it inactive.
            await self._exec("lvchange", "-ay", self._lv(name))
        return ConnectionInfo("local", {"device_path": self.device(name), "format": "raw"})
