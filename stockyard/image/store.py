"""Image data on local disk under ``<data_dir>/images``.

Uploads stream into a temporary file that is renamed into place only when complete, so a
failed or interrupted upload never leaves a partial image behind. Blocking file work runs
in a thread so the event loop keeps serving while gigabytes move.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class StoredData:
    """The result of a completed write."""

    location: str
    size: int
    md5: str
    sha512: str


class ImageStore:
    """A flat directory of image files, one per image id."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._tmp = root / ".tmp"

    def path_for(self, location: str) -> Path:
        """The absolute path of a stored image (``location`` as kept on the row)."""
        path = (self.root / location).resolve()
        if path.parent != self.root.resolve():
            raise ValueError(f"bad image location {location!r}")
        return path

    async def write(self, image_id: str, chunks: AsyncIterable[bytes]) -> StoredData:
        """Stream ``chunks`` into the store as the data of ``image_id``.

        On any error (including cancellation) the temporary file is removed and nothing is
        left in place of the image.
        """
        await asyncio.to_thread(self._tmp.mkdir, parents=True, exist_ok=True)
        tmp = self._tmp / f"{image_id}.{uuid.uuid4().hex}.part"
        md5 = hashlib.md5(usedforsecurity=False)
        sha = hashlib.sha512()
        size = 0
        fh: IO[bytes] = await asyncio.to_thread(open, tmp, "wb")
        try:
            buf = bytearray()
            async for chunk in chunks:
                buf += chunk
                size += len(chunk)
                # Batch small network chunks so each thread hop moves about 1 MiB.
                if len(buf) >= CHUNK:
                    await asyncio.to_thread(_write_and_hash, fh, bytes(buf), md5, sha)
                    buf.clear()
            if buf:
                await asyncio.to_thread(_write_and_hash, fh, bytes(buf), md5, sha)
            await asyncio.to_thread(_close_synced, fh)
            await asyncio.to_thread(os.replace, tmp, self.root / image_id)
        except BaseException:
            await asyncio.shield(asyncio.to_thread(_discard, fh, tmp))
            raise
        return StoredData(image_id, size, md5.hexdigest(), sha.hexdigest())

    async def write_bytes(self, image_id: str, data: bytes) -> StoredData:
        """Store a small in-memory image (the default image)."""

        async def one() -> AsyncIterator[bytes]:
            for start in range(0, len(data), CHUNK):
                yield data[start : start + CHUNK]

        return await self.write(image_id, one())

    async def exists(self, location: str) -> bool:
        return await asyncio.to_thread(self.path_for(location).is_file)

    async def read(self, location: str, chunk_size: int = CHUNK) -> AsyncIterator[bytes]:
        """Yield the stored data in chunks, reading in a thread."""
        fh: IO[bytes] = await asyncio.to_thread(open, self.path_for(location), "rb")
        try:
            while True:
                chunk = await asyncio.to_thread(fh.read, chunk_size)
                if not chunk:
                    break
                yield chunk
        finally:
            await asyncio.to_thread(fh.close)

    async def delete(self, location: str) -> None:
        """Remove stored data; a file already gone is not an error."""
        await asyncio.to_thread(self.path_for(location).unlink, missing_ok=True)


def _write_and_hash(fh: IO[bytes], data: bytes, md5: Any, sha: Any) -> None:
    fh.write(data)
    md5.update(data)
    sha.update(data)


def _close_synced(fh: IO[bytes]) -> None:
    fh.flush()
    os.fsync(fh.fileno())
    fh.close()


def _discard(fh: IO[bytes], tmp: Path) -> None:
    fh.close()
    tmp.unlink(missing_ok=True)
