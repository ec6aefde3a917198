"""The API as an importable ASGI app factory, for ``stockyard api --workers N``.

``uvicorn --factory stockyard.cli.asgi:make_app``: each worker process reads the
settings (environment / settings file), opens its own database pool and bus in the
lifespan, and loads the regions for the catalog from the ``regions`` table.
"""

from __future__ import annotations

import gc
import multiprocessing
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from stockyard.api.app import create_app
from stockyard.api.state import APIState
from stockyard.children import die_with_parent
from stockyard.cli.embedded import make_bus
from stockyard.cli.logs import configure_logging
from stockyard.cli.seed import load_regions
from stockyard.db.base import Database
from stockyard.identity.tokens import TokenService
from stockyard.placement.service import db_reachable
from stockyard.settings import Settings


def add_readyz(app: FastAPI, state: APIState) -> None:
    """``GET /readyz``: 200 when the database answers and the bus is healthy, else 503."""

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        checks = {"database": await db_reachable(state.db), "bus": state.bus.healthy()}
        ok = all(checks.values())
        return JSONResponse(
            {"status": "ok" if ok else "unavailable", "checks": checks},
            status_code=200 if ok else 503,
        )


def make_app() -> FastAPI:
    """Build one API worker's app; the database and bus open in its lifespan.

    In a worker of ``stockyard api --workers N`` (a ``multiprocessing`` child) this also
    ties the worker to the supervising process: it dies with it, also on SIGKILL.
    """
    parent = multiprocessing.parent_process()
    if parent is not None and parent.pid is not None:
        die_with_parent(parent.pid)
    settings = Settings()
    configure_logging(settings.log_level, json_lines=settings.log_json, role="api")
    db = Database(settings.effective_database_url, **settings.database_engine_options())
    bus = make_bus(settings)
    state = APIState(
        settings=settings, db=db, tokens=TokenService(settings.token_ttl_seconds), bus=bus
    )
    app = create_app(state)
    add_readyz(app, state)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await bus.start()
        state.regions = await load_regions(db)
        # As ``stockyard up`` does: the worker's start-up objects live as long as it, and
        # frozen they are left out of every full collection (see cli/main.py).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await bus.close()
            await db.dispose()

    app.router.lifespan_context = lifespan
    return app
