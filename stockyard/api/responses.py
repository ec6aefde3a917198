"""The JSON response class of the API."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
from fastapi.responses import JSONResponse


class FastJSONResponse(JSONResponse):
    """orjson: the API returns large lists (servers/detail) and must stay fast."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


@contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic collector off for a synchronous block that builds a large, acyclic,
    short-lived structure (a list body): reference counting frees it; the collector's
    passes would only promote it to the oldest generation and trigger a full pass."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
