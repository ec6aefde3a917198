"""The legacy ``/extensions`` lists (Nova's and Cinder's): descriptors of API extensions,
each listed only while the application serves its API.

A descriptor whose API is a resource names one of its paths and is listed only while
the application routes that path (its OpenAPI document has it). Descriptors of fields
and request options have no path of their own and are listed with their API.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from fastapi import Request


@dataclass(frozen=True, slots=True)
class Extension:
    alias: str
    name: str
    description: str
    path: str | None = None
    """A path (under the API's prefix) that must be routed for the extension to be listed."""

    def descriptor(self, updated: str, namespace: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "alias": self.alias,
            "description": self.description,
            "links": [],
            "name": self.name,
        }
        if namespace is not None:
            out["namespace"] = namespace
        out["updated"] = updated
        return out


def _routed_paths(request: Request, prefix: str) -> set[str]:
    # The OpenAPI document is the public, flattened view of every included router (the
    # route tree itself nests them); FastAPI builds it once and caches it on the app.
    paths: dict[str, Any] = request.app.openapi().get("paths", {})
    return {path.removeprefix(prefix) for path in paths if path.startswith(prefix + "/")}


def served(request: Request, extensions: Iterable[Extension], prefix: str) -> list[Extension]:
    """The ``extensions`` whose API this application serves right now under ``prefix``."""
    paths = _routed_paths(request, prefix)
    return [ext for ext in extensions if ext.path is None or ext.path in paths]
