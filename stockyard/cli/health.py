"""``GET /healthz`` (liveness) and ``GET /readyz`` (DB reachable + bus healthy).

The API serves both on its own port (see :mod:`stockyard.cli.asgi`); the scheduler,
conductor and agent roles serve them on ``--health-port`` (``0``: a free port, printed
in the log as ``health endpoint on http://…``; not given: no health endpoint).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse

log = logging.getLogger("stockyard.health")

ReadyCheck = Callable[[], Awaitable[dict[str, bool]]]


def add_health_routes(app: FastAPI, check: ReadyCheck) -> None:
    """Mount ``/healthz`` (always 200 while the loop runs) and ``/readyz`` on ``app``."""

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        checks = await check()
        ok = all(checks.values())
        return JSONResponse(
            {"status": "ok" if ok else "unavailable", "checks": checks},
            status_code=200 if ok else 503,
        )


class HealthServer:
    """A tiny HTTP server in the role's event loop."""

    def __init__(self, check: ReadyCheck, host: str, port: int) -> None:
        app = FastAPI(docs_url=None, openapi_url=None)
        add_health_routes(app, check)
        config = uvicorn.Config(
            app, host=host, port=port, log_level="warning", access_log=False, lifespan="off"
        )
        self.server = uvicorn.Server(config)
        self._task: asyncio.Task[None] | None = None
        self.port = port

    async def start(self) -> int:
        """Serve in the background; return the bound port."""
        self._task = asyncio.create_task(self.server.serve())
        while not self.server.started and not self._task.done():  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        if self._task.done():
            await self._task
            raise RuntimeError("health endpoint did not start")
        sockets = [s for srv in self.server.servers for s in srv.sockets]
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        log.info("health endpoint on http://%s:%d", self.server.config.host, self.port)
        return self.port

    async def stop(self) -> None:
        self.server.should_exit = True
        if self._task is not None:
            await self._task
