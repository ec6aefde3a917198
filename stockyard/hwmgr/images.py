"""hwmgr's image cache: each image is downloaded once per checksum and served to installers."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
from pathlib import Path
from typing import IO

import httpx

_SHA256 = re.compile(r"^(?:sha256:)?([0-9a-f]{64})$")


class ImageError(Exception):
    """The image could not be fetched or did not match its checksum."""


def parse_checksum(value: str) -> str:
    """The sha256 hex digest in ``sha256:<hex>`` or ``<hex>``; ValueError otherwise."""
    match = _SHA256.match(value.strip().lower())
    if not match:
        raise ValueError("must be 'sha256:' followed by 64 hex characters")
    return match.group(1)


class ImageCache:
    """Files named by their sha256 under ``root``; concurrent deploys share one download."""

    def __init__(self, root: Path, *, timeout: float = 300.0) -> None:
        self.root = root
        self.timeout = timeout
        self._locks: dict[str, asyncio.Lock] = {}

    def path_for(self, checksum: str) -> Path:
        return self.root / parse_checksum(checksum)

    def has(self, checksum: str) -> bool:
        return self.path_for(checksum).is_file()

    async def ensure(self, url: str, checksum: str) -> Path:
        """Download ``url`` into the cache unless present; raises ``ImageError``."""
        digest = parse_checksum(checksum)
        lock = self._locks.setdefault(digest, asyncio.Lock())
        async with lock:
            path = self.root / digest
            if path.is_file():
                return path
            await asyncio.to_thread(self.root.mkdir, parents=True, exist_ok=True)
            partial = self.root / f".{digest}.{os.getpid()}.part"
            try:
                got = await self._download(url, partial)
            except BaseException:
                await asyncio.to_thread(partial.unlink, missing_ok=True)
                raise
            if got != digest:
                await asyncio.to_thread(partial.unlink, missing_ok=True)
                raise ImageError(f"checksum mismatch for {url}: expected {digest}, got {got}")
            await asyncio.to_thread(os.replace, partial, path)
            return path

    async def _download(self, url: str, dest: Path) -> str:
        sha = hashlib.sha256()
        fh: IO[bytes] = await asyncio.to_thread(dest.open, "wb")
        try:
            async with (
                httpx.AsyncClient(timeout=self.timeout) as client,
                client.stream("GET", url) as response,
            ):
                if response.status_code != 200:
                    raise ImageError(f"GET {url} answered HTTP {response.status_code}")
                async for chunk in response.aiter_bytes(1 << 20):
                    sha.update(chunk)
                    await asyncio.to_thread(fh.write, chunk)
        except httpx.HTTPError as exc:
            raise ImageError(f"GET {url} failed: {exc}") from exc
        finally:
            await asyncio.to_thread(fh.close)
        return sha.hexdigest()
