"""``stockyard-tiny``: the bootable image built by ``images/build-stockyard-tiny.sh``,
registered (public, raw) at start when the setting ``tiny_image_path`` names a file."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO

from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.db.models import Image
from stockyard.image.defaults import upsert_public_image
from stockyard.image.store import CHUNK, ImageStore

TINY_IMAGE_NAME = "stockyard-tiny"
# A fixed id: registration is idempotent across restarts and racing processes.
TINY_IMAGE_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "stockyard:image:stockyard-tiny"))


def _sha512(path: Path) -> str:
    digest = hashlib.sha512()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


async def _chunks(path: Path) -> AsyncIterator[bytes]:
    fh: IO[bytes] = await asyncio.to_thread(path.open, "rb")
    try:
        while chunk := await asyncio.to_thread(fh.read, CHUNK):
            yield chunk
    finally:
        await asyncio.to_thread(fh.close)


async def register_tiny_image(
    session: AsyncSession, store: ImageStore, owner_project_id: str, path: Path | None
) -> Image | None:
    """Register ``path`` as ``stockyard-tiny``; None when ``path`` is unset or missing.

    Idempotent: the data is copied into the image store only when it differs from what
    is registered (a rebuilt image file replaces the old data under the same id). The
    row is flushed; the caller commits.
    """
    if path is None or not await asyncio.to_thread(path.is_file):
        return None
    existing = await session.get(Image, TINY_IMAGE_ID)
    if (
        existing is not None
        and existing.location
        and await store.exists(existing.location)
        and existing.os_hash_value == await asyncio.to_thread(_sha512, path)
    ):
        return existing
    stored = await store.write(TINY_IMAGE_ID, _chunks(path))
    return await upsert_public_image(
        session,
        existing,
        image_id=TINY_IMAGE_ID,
        name=TINY_IMAGE_NAME,
        owner_project_id=owner_project_id,
        stored=stored,
        description="Stockyard tiny bootable image (busybox + dropbear; config drive, ssh)",
    )
