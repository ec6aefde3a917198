"""The one ASGI app: identity, compute, image, network and stock under path prefixes.

``/identity/v3``, ``/compute/v2.1``, ``/image/v2``, ``/network/v2.0`` as DevStack lays them
out, so one port serves the whole cloud and the service catalog points at these prefixes.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response

from stockyard.api.errors import install_error_handlers
from stockyard.api.responses import FastJSONResponse
from stockyard.api.retry import RetryMiddleware
from stockyard.api.state import APIState
from stockyard.bus import reqid

log = logging.getLogger("stockyard.api")


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
    # Added before the request-id middleware, so it runs inside it: a re-run keeps the id.
    app.add_middleware(RetryMiddleware, db=state.db)

    @app.middleware("http")
    async def request_id(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        rid = request.headers.get("x-openstack-request-id") or f"req-{uuid.uuid4()}"
        request.state.request_id = rid
        start = time.perf_counter()
        with reqid.bound(rid):
            response = await call_next(request)
        response.headers["x-openstack-request-id"] = rid
        if request.url.path.startswith("/compute"):
            # Nova's compat header (oslo's request-id middleware sends both): clients and
            # Tempest read the create's request id from it to find its instance action.
            response.headers["x-compute-request-id"] = rid
            version = getattr(request.state, "microversion", None)
            if version is not None:
                response.headers["OpenStack-API-Version"] = f"compute {version}"
                response.headers["X-OpenStack-Nova-API-Version"] = str(version)
                response.headers["Vary"] = "OpenStack-API-Version, X-OpenStack-Nova-API-Version"
        elif request.url.path.startswith("/volume"):
            version = getattr(request.state, "volume_microversion", None)
            if version is not None:
                response.headers["OpenStack-API-Version"] = f"volume {version}"
                response.headers["Vary"] = "OpenStack-API-Version"
        log.info(
            "%s %s %s %.1fms %s",
            request.method,
            request.url.path,
            response.status_code,
            (time.perf_counter() - start) * 1000,
            rid,
        )
        return response

    from stockyard.api.compute import router as compute_router
    from stockyard.api.identity import router as identity_router
    from stockyard.api.image import router as image_router
    from stockyard.api.network import router as network_router
    from stockyard.api.stock import router as stock_router
    from stockyard.api.volume import router as volume_router

    app.include_router(identity_router)
    app.include_router(compute_router)
    app.include_router(image_router)
    app.include_router(network_router)
    app.include_router(stock_router)
    app.include_router(volume_router)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
