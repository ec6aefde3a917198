"""Identity tests must not depend on the compute and image packages being importable
while other parts are being built: stand in an empty router for one that fails."""

from __future__ import annotations

import importlib
import sys
import types

from fastapi import APIRouter


def _stub_if_broken(package: str, prefix: str) -> None:
    try:
        importlib.import_module(package)
    except Exception:  # any import failure of a sibling still in progress
        stub = types.ModuleType(package)
        stub.router = APIRouter(prefix=prefix)  # type: ignore[attr-defined]
        sys.modules[package] = stub


_stub_if_broken("stockyard.api.compute", "/compute")
_stub_if_broken("stockyard.api.image", "/image")
