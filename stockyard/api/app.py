"""The one ASGI app: identity, compute, image, network and stock under path prefixes.

``/identity/v3``, ``/compute/v2.1``, ``/image/v2``, ``/network/v2.0`` as DevStack lays them
out, so one port serves the whole cloud and the service catalog points at these prefixes.
"""

from __future__ import annotations

from fastapi import FastAPI

from stockyard.api.errors import install_error_handlers
from stockyard.api.request_id import RequestIdMiddleware
from stockyard.api.responses import FastJSONResponse
from stockyard.api.retry import RetryMiddleware
from stockyard.api.state import APIState


def create_app(state: APIState) -> FastAPI:
    """Build the API app around an already-opened ``APIState``."""
    app = FastAPI(
        title="Stockyard",
        version="0.1.0",
        default_response_class=FastJSONResponse,
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    app.state.sy = state
    install_error_handlers(app)
    # Added before the request-id middleware, so it runs inside it.
    app.add_middleware(RetryMiddleware, db=state.db)
    # Added last, so it runs outermost: a re-run keeps the id.
    app.add_middleware(RequestIdMiddleware)

    from stockyard.api.compute import router as compute_router
    from stockyard.api.identity import router as identity_router
    from stockyard.api.image import router as image_router
    from stockyard.api.network import router as network_router
    from stockyard.api.stock import router as stock_router
    from stockyard.api.volume import router as volume_router

    # Each service's paths are under its own prefix, so the order only decides how many
    # route regexes a request tries before its own: the busiest service first (a create
    # tried all ~110 identity routes before the compute ones).
    app.include_router(compute_router)
    app.include_router(identity_router)
    app.include_router(volume_router)
    app.include_router(image_router)
    app.include_router(network_router)
    app.include_router(stock_router)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
