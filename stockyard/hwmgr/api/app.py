"""The hwmgr ASGI app."""

from __future__ import annotations

from fastapi import FastAPI

from stockyard.hwmgr.api import installer, nodes, tasks
from stockyard.hwmgr.api.errors import install_handlers
from stockyard.hwmgr.api.health import add_hwmgr_health
from stockyard.hwmgr.api.state import HwmgrState


def create_app(state: HwmgrState) -> FastAPI:
    """hwmgr's API on ``state``; the service token guards everything but installer routes
    and ``/healthz`` ``/readyz``."""
    app = FastAPI(
        title="Stockyard hwmgr",
        version="1",
        description="Physical server management: nodes, BMC power, PXE, OS-install tasks.",
    )
    app.state.hwmgr = state
    install_handlers(app)
    app.include_router(nodes.router)
    app.include_router(tasks.node_router)
    app.include_router(tasks.router)
    app.include_router(installer.router)
    add_hwmgr_health(app, state)
    return app
