"""Dependencies of the image routes: the image store and JSON bodies."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import Depends, Request

from stockyard.api.deps import StateDep
from stockyard.api.errors import APIError
from stockyard.image.store import ImageStore

STORE_KEY = "image_store"


def get_store(state: StateDep) -> ImageStore:
    """The process's image store; one per ``APIState``, under ``<data_dir>/images``."""
    store = state.extra.get(STORE_KEY)
    if not isinstance(store, ImageStore):
        store = ImageStore(state.settings.data_dir / "images")
        state.extra[STORE_KEY] = store
    return store


async def _store(state: StateDep) -> ImageStore:
    return get_store(state)  # async: a plain def dependency runs in the thread pool


StoreDep = Annotated[ImageStore, Depends(_store)]


async def read_json(request: Request) -> Any:
    """The request body as JSON; 400 when absent or malformed."""
    raw = await request.body()
    if not raw.strip():
        raise APIError(400, "Body expected in request.")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise APIError(400, "Malformed request body: the body is not valid JSON.") from None
