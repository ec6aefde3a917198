"""Guest disks: image lookup, the base-image cache and per-instance qcow2 overlays.

Layout under the driver's state dir (``<data_dir>/libvirt``)::

    base/<sha256>                 one read-only copy per distinct image content
    instances/<uuid>/disk.qcow2   the root disk, an overlay on a base image
    instances/<uuid>/config.iso   the config drive
    instances/<uuid>/console.log  the serial console

Base images are keyed by content, so two image records of the same file share one base,
and a base never changes under a running overlay. ``qemu-img`` runs as a subprocess.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import stat
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from stockyard.children import child_options
from stockyard.compute.drivers.base import DriverError
from stockyard.image.store import ImageStore

_HASH_CHUNK = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ImageSource:
    """Where an image's bytes are on this host."""

    path: Path
    kernel: Path | None = None
    ramdisk: Path | None = None


ImageResolver = Callable[[str], Awaitable[ImageSource]]


class LocalImageResolver:
    """Finds images in the local image store (``<data_dir>/images``), by image id.

    Fits the all-in-one set-up where the agent shares the API's data dir. A multi-host
    deployment passes its own resolver (e.g. one that downloads from the Image API).
    """

    def __init__(self, images_dir: Path) -> None:
        self.store = ImageStore(images_dir)

    async def __call__(self, image_ref: str) -> ImageSource:
        try:
            path = self.store.path_for(image_ref)
        except ValueError as exc:
            raise DriverError(f"Image {image_ref!r} is not a valid image reference.") from exc
        if not await asyncio.to_thread(path.is_file):
            raise DriverError(f"Image {image_ref} has no data on this host.")
        return ImageSource(path)


async def run(*args: str) -> str:
    """Run a command; its stdout, or ``DriverError`` with its stderr."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            **child_options(),  # a killed agent does not leave qemu-img running
        )
    except FileNotFoundError as exc:
        raise DriverError(f"{args[0]} is not installed on the compute host.") from exc
    out, err = await proc.communicate()
    if proc.returncode != 0:
        msg = err.decode(errors="replace").strip() or f"exit status {proc.returncode}"
        raise DriverError(f"{Path(args[0]).name} failed: {msg}")
    return out.decode(errors="replace")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _install_base(src: Path, dest: Path) -> None:
    if dest.exists():
        return
    tmp = dest.with_name(f"{dest.name}.{os.getpid()}.part")
    try:
        # Same file system: share the inode (the image store replaces, never rewrites).
        os.link(src, tmp)
    except OSError:
        shutil.copyfile(src, tmp)
    # Read-only for everyone: QEMU runs as another user and must never write a base.
    os.chmod(tmp, 0o444)
    os.replace(tmp, dest)


class DiskManager:
    """Base-image cache and instance directories under ``state_dir``."""

    def __init__(self, state_dir: Path, qemu_img: str = "qemu-img") -> None:
        self.state_dir = state_dir
        self.base_dir = state_dir / "base"
        self.instances_dir = state_dir / "instances"
        self.qemu_img = qemu_img
        # (path, size, mtime_ns) -> sha256, so an unchanged image is hashed once.
        self._hashes: dict[tuple[str, int, int], str] = {}
        self._base_locks: dict[str, asyncio.Lock] = {}

    def instance_dir(self, instance_uuid: str) -> Path:
        if not instance_uuid or "/" in instance_uuid or instance_uuid in {".", ".."}:
            raise DriverError(f"Invalid instance uuid {instance_uuid!r}.")
        return self.instances_dir / instance_uuid

    async def ensure_instance_dir(self, instance_uuid: str) -> Path:
        path = self.instance_dir(instance_uuid)

        def make() -> None:
            path.mkdir(parents=True, exist_ok=True)
            # QEMU (user libvirt-qemu under qemu:///system) must reach the files.
            for p in (self.state_dir, self.instances_dir, path):
                os.chmod(p, 0o755)

        await asyncio.to_thread(make)
        return path

    async def check_reachable(self) -> None:
        """``DriverError`` when QEMU (another user) cannot reach the state dir."""

        def blocked() -> Path | None:
            for parent in self.state_dir.parents:
                if parent.exists() and not parent.stat().st_mode & stat.S_IXOTH:
                    return parent
            return None

        parent = await asyncio.to_thread(blocked)
        if parent is not None:
            raise DriverError(
                f"QEMU cannot reach {self.state_dir}: directory {parent} is not searchable "
                "by other users (chmod o+x, or choose another data_dir)."
            )

    async def remove_instance_dir(self, instance_uuid: str) -> None:
        await asyncio.to_thread(shutil.rmtree, self.instance_dir(instance_uuid), True)

    async def cached_base(self, src: Path) -> Path:
        """The cached base copy of image file ``src`` (made on first use)."""
        base, _fetched = await self.fetch_base(src)
        return base

    async def fetch_base(self, src: Path) -> tuple[Path, bool]:
        """:meth:`cached_base`, and whether this call made the copy (image pre-caching
        reports fetched versus already cached per image)."""
        st = await asyncio.to_thread(os.stat, src)
        key = (str(src), st.st_size, st.st_mtime_ns)
        checksum = self._hashes.get(key)
        if checksum is None:
            checksum = await asyncio.to_thread(_sha256, src)
            self._hashes[key] = checksum
        dest = self.base_dir / checksum
        lock = self._base_locks.setdefault(checksum, asyncio.Lock())
        fetched = False
        async with lock:
            if not await asyncio.to_thread(dest.exists):
                await asyncio.to_thread(self.base_dir.mkdir, parents=True, exist_ok=True)
                await asyncio.to_thread(os.chmod, self.base_dir, 0o755)
                await asyncio.to_thread(_install_base, src, dest)
                fetched = True
        return dest, fetched

    async def image_info(self, path: Path) -> dict[str, object]:
        out = await run(self.qemu_img, "info", "--output=json", str(path))
        info: dict[str, object] = json.loads(out)
        return info

    async def create_overlay(self, base: Path, dest: Path, size_gb: int) -> Path:
        """A fresh qcow2 overlay at ``dest`` on ``base``, grown to ``size_gb`` if larger."""
        info = await self.image_info(base)
        fmt = str(info.get("format") or "raw")
        if fmt not in {"raw", "qcow2"}:
            raise DriverError(f"Image format {fmt} is not supported; use raw or qcow2.")
        virtual = int(str(info.get("virtual-size") or 0))
        args = [self.qemu_img, "create", "-q", "-f", "qcow2", "-b", str(base), "-F", fmt]
        tmp = dest.with_name(dest.name + ".part")
        args.append(str(tmp))
        wanted = size_gb * 1024**3
        if wanted > virtual:
            args.append(str(wanted))
        await asyncio.to_thread(tmp.unlink, True)
        await run(*args)
        await asyncio.to_thread(os.replace, tmp, dest)
        return dest
