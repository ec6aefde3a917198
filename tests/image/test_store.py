"""The file store on its own: interrupted writes leave nothing behind."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from stockyard.image.store import ImageStore
from tests.image.helpers import md5, sha512


async def test_interrupted_write_leaves_no_file(tmp_path: Path) -> None:
    store = ImageStore(tmp_path / "images")

    async def chunks() -> AsyncIterator[bytes]:
        yield b"a" * (2 * 1024 * 1024)
        raise ConnectionError("gone")

    with pytest.raises(ConnectionError):
        await store.write("img-1", chunks())
    assert [p for p in (tmp_path / "images").rglob("*") if p.is_file()] == []


async def test_write_read_delete(tmp_path: Path) -> None:
    store = ImageStore(tmp_path / "images")
    data = bytes(range(256)) * 10_000
    stored = await store.write_bytes("img-2", data)
    assert (stored.size, stored.md5, stored.sha512) == (len(data), md5(data), sha512(data))
    assert b"".join([c async for c in store.read(stored.location, 4096)]) == data
    await store.delete(stored.location)
    assert not await store.exists(stored.location)
    await store.delete(stored.location)  # already gone: fine


def test_location_cannot_escape_the_store(tmp_path: Path) -> None:
    store = ImageStore(tmp_path / "images")
    with pytest.raises(ValueError):
        store.path_for("../stockyard.db")
