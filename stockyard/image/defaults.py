"""The image a fresh cloud boots from, registered at first start."""

from __future__ import annotations

import uuid

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.db.models import Image
from stockyard.image.formats import HASH_ALGO
from stockyard.image.store import ImageStore, StoredData

DEFAULT_IMAGE_NAME = "stockyard-default"
# A fixed id makes registration idempotent across restarts and racing API processes.
DEFAULT_IMAGE_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "stockyard:image:stockyard-default"))
DEFAULT_IMAGE_SIZE = 1024 * 1024


def default_image_data() -> bytes:
    """1 MiB of a deterministic pattern, so every install has the same checksum."""
    return bytes(range(256)) * (DEFAULT_IMAGE_SIZE // 256)


async def register_default_image(
    session: AsyncSession, store: ImageStore, owner_project_id: str
) -> Image:
    """Register ``stockyard-default`` (raw, bare, public, active) unless it exists.

    Idempotent: an existing row is returned as is, its data rewritten only if the file is
    missing. The row is flushed; the caller commits.
    """
    existing = await session.get(Image, DEFAULT_IMAGE_ID)
    if existing is not None and existing.location and await store.exists(existing.location):
        return existing
    stored = await store.write_bytes(DEFAULT_IMAGE_ID, default_image_data())
    return await upsert_public_image(
        session,
        existing,
        image_id=DEFAULT_IMAGE_ID,
        name=DEFAULT_IMAGE_NAME,
        owner_project_id=owner_project_id,
        stored=stored,
        description="Stockyard default test image (1 MiB raw pattern)",
    )


async def upsert_public_image(
    session: AsyncSession,
    existing: Image | None,
    *,
    image_id: str,
    name: str,
    owner_project_id: str,
    stored: StoredData,
    description: str,
) -> Image:
    """Point ``existing`` at freshly ``stored`` data, or insert a public raw image row.

    For images the cloud registers itself under a fixed id: a concurrent insert by
    another process is not an error, its row is returned. The caller commits.
    """
    if existing is not None:
        existing.location = stored.location
        existing.status = "active"
        existing.size = existing.virtual_size = stored.size
        existing.checksum = stored.md5
        existing.os_hash_algo = HASH_ALGO
        existing.os_hash_value = stored.sha512
        await session.flush()
        return existing
    image = Image(
        id=image_id,
        name=name,
        owner=owner_project_id,
        status="active",
        visibility="public",
        disk_format="raw",
        container_format="bare",
        size=stored.size,
        virtual_size=stored.size,
        checksum=stored.md5,
        os_hash_algo=HASH_ALGO,
        os_hash_value=stored.sha512,
        min_disk=0,
        min_ram=0,
        protected=False,
        os_hidden=False,
        properties={"description": description},
        tags=[],
        location=stored.location,
    )
    try:
        async with session.begin_nested():
            session.add(image)
    except IntegrityError:
        # Another process registered it between our read and our insert.
        raced = await session.get(Image, image_id, populate_existing=True)
        if raced is None:
            raise
        return raced
    return image
