"""The ``file`` backend: one qcow2 (or raw) file per volume in a directory the hypervisors
share, made and changed with Debian's ``qemu-img`` in asyncio subprocesses.

Files are written under a temporary name and renamed into place, so a crash mid-create
leaves no half-made volume under the real name and a re-run starts clean. A snapshot is a
full qcow2 copy (``qemu-img convert``): it stays valid whatever happens to the volume,
and copies only allocated clusters. Snapshots of an attached volume (the next slice)
need the guest quiesced or libvirt's external snapshots instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
from pathlib import Path
from typing import Literal

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
QEMU_IMG_TIMEOUT = 600.0


class FileDriver(VolumeDriver):
    """Volumes as image files under ``directory``."""

    kind = "file"

    def __init__(
        self,
        backend_name: str,
        directory: Path,
        fmt: Literal["qcow2", "raw"] = "qcow2",
        qemu_img: str = "qemu-img",
    ) -> None:
        super().__init__(backend_name)
        self.directory = directory
        self.fmt = fmt
        self.qemu_img = qemu_img

    def volume_path(self, volume_id: str) -> Path:
        return self.directory / f"volume-{volume_id}.{self.fmt}"

    def snapshot_path(self, snapshot_id: str) -> Path:
        return self.directory / f"snapshot-{snapshot_id}.qcow2"

    async def check(self) -> None:
        if shutil.which(self.qemu_img) is None:
            raise VolumeDriverError(
                f"file backend {self.backend_name}: {self.qemu_img} not found "
                "(apt-get install qemu-utils)"
            )
        await asyncio.to_thread(self.directory.mkdir, parents=True, exist_ok=True)

    async def stats(self) -> BackendStats:
        await asyncio.to_thread(self.directory.mkdir, parents=True, exist_ok=True)
        usage = await asyncio.to_thread(shutil.disk_usage, self.directory)
        return BackendStats(total_gb=usage.total / GiB, free_gb=usage.free / GiB)

    async def _run(self, *args: str) -> str:
        proc = await asyncio.create_subprocess_exec(
            self.qemu_img,
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            async with asyncio.timeout(QEMU_IMG_TIMEOUT):
                out, err = await proc.communicate()
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise VolumeDriverError(
                f"qemu-img {args[0]} did not finish in {QEMU_IMG_TIMEOUT:.0f} s"
            ) from None
        if proc.returncode != 0:
            message = err.decode(errors="replace").strip() or f"exit status {proc.returncode}"
            raise VolumeDriverError(f"qemu-img {args[0]} failed: {message}")
        return out.decode(errors="replace")

    async def virtual_size_gb(self, path: Path) -> float:
        """The virtual size of the image at ``path`` in GiB."""
        info = json.loads(await self._run("info", "--output=json", "-U", str(path)))
        return float(info["virtual-size"]) / GiB

    async def _ensure_free(self, size_gb: int) -> None:
        # Sparse files need no room up front, but a backend that cannot hold even the
        # volume's metadata is full: refuse with the numbers rather than fail half-way.
        stats = await self.stats()
        if stats.free_gb < 0.01:
            raise BackendFull(
                f"backend {self.backend_name} is full: {stats.free_gb:.2f} GiB free of "
                f"{stats.total_gb:.1f} GiB, {size_gb} GiB asked"
            )

    async def _place(self, tmp: Path, final: Path) -> str:
        await asyncio.to_thread(os.replace, tmp, final)
        return str(final)

    def _tmp(self, final: Path) -> Path:
        return final.with_name(final.name + ".part")

    async def _existing(self, path: Path, size_gb: int) -> str | None:
        """``path`` when an earlier run already made it at ``size_gb`` or more."""
        if not await asyncio.to_thread(path.exists):
            return None
        if await self.virtual_size_gb(path) >= size_gb:
            return str(path)
        return None

    async def create(self, volume: VolumeRef) -> str:
        path = self.volume_path(volume.id)
        if (done := await self._existing(path, volume.size_gb)) is not None:
            return done
        await self._ensure_free(volume.size_gb)
        tmp = self._tmp(path)
        await self._run("create", "-q", "-f", self.fmt, str(tmp), f"{volume.size_gb}G")
        return await self._place(tmp, path)

    async def delete(self, volume: VolumeRef) -> None:
        path = Path(volume.location) if volume.location else self.volume_path(volume.id)
        for victim in (path, self._tmp(path)):
            with contextlib.suppress(FileNotFoundError):
                await asyncio.to_thread(victim.unlink)

    async def extend(self, volume: VolumeRef, new_size_gb: int) -> None:
        path = Path(volume.location) if volume.location else self.volume_path(volume.id)
        if not await asyncio.to_thread(path.exists):
            raise VolumeDriverError(f"volume {volume.id}: its file {path} is missing")
        if await self.virtual_size_gb(path) >= new_size_gb:
            return  # a re-run after the resize was done
        await self._run("resize", "-q", "-f", self.fmt, str(path), f"{new_size_gb}G")

    async def create_snapshot(self, snapshot: SnapshotRef) -> str:
        source = self._source(snapshot.volume)
        path = self.snapshot_path(snapshot.id)
        if await asyncio.to_thread(path.exists):
            return str(path)
        tmp = self._tmp(path)
        await self._run("convert", "-q", "-f", self.fmt, "-O", "qcow2", str(source), str(tmp))
        return await self._place(tmp, path)

    async def delete_snapshot(self, snapshot: SnapshotRef) -> None:
        path = Path(snapshot.location) if snapshot.location else self.snapshot_path(snapshot.id)
        for victim in (path, self._tmp(path)):
            with contextlib.suppress(FileNotFoundError):
                await asyncio.to_thread(victim.unlink)

    async def create_from_snapshot(self, volume: VolumeRef, snapshot: SnapshotRef) -> str:
        source = Path(snapshot.location) if snapshot.location else self.snapshot_path(snapshot.id)
        return await self._copy(volume, source, "qcow2")

    async def clone(self, volume: VolumeRef, source: VolumeRef) -> str:
        return await self._copy(volume, self._source(source), self.fmt)

    async def create_from_image(self, volume: VolumeRef, image: Path, image_format: str) -> str:
        info = json.loads(await self._run("info", "--output=json", "-f", image_format, str(image)))
        check_image_fits(info, volume)
        return await self._copy(volume, image, image_format)

    def _source(self, volume: VolumeRef) -> Path:
        return Path(volume.location) if volume.location else self.volume_path(volume.id)

    async def _copy(self, volume: VolumeRef, source: Path, source_fmt: str) -> str:
        path = self.volume_path(volume.id)
        if (done := await self._existing(path, volume.size_gb)) is not None:
            return done
        if not await asyncio.to_thread(source.exists):
            raise VolumeDriverError(f"the source {source.name} is missing on {self.backend_name}")
        await self._ensure_free(volume.size_gb)
        tmp = self._tmp(path)
        await self._run("convert", "-q", "-f", source_fmt, "-O", self.fmt, str(source), str(tmp))
        if await self.virtual_size_gb(tmp) < volume.size_gb:
            await self._run("resize", "-q", "-f", self.fmt, str(tmp), f"{volume.size_gb}G")
        return await self._place(tmp, path)

    async def initialize_connection(
        self, volume: VolumeRef, connector: Connector
    ) -> ConnectionInfo:
        # The directory is shared with the hypervisors: the path is the connection.
        path = self._source(volume)
        return ConnectionInfo("file", {"path": str(path), "format": self.fmt})
