"""Images for hwmgr: signed, expiring URLs to files of the image store (Swift temp-URL style).

hwmgr downloads a deploy's image with a plain GET (it holds no Keystone token of ours),
so the lab serves each image the baremetal driver asks for at
``/images/<id>?expires=<unix>&sig=<hmac-sha256>`` (on 127.0.0.1 in the lab; on the
``stockyard baremetal-agent`` role's image port in a deployment). Only images that
``url_for`` has signed are served, only until their URL expires, and read-only.

The exporter reads the image store (``<data_dir>/images``) by image id, as the libvirt
agents do, and needs no database: a file is there only once its upload completed (the store
renames it into place), and the compute API already refused a build from an image that is
not active before the build reached an agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import secrets
import time
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route

from stockyard.compute.drivers.base import DriverError
from stockyard.image.store import ImageStore


def _sha256(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            sha.update(chunk)
    return sha.hexdigest()


class ImageExporter:
    """Serves signed image URLs; ``url_for`` is the driver's ``image_url_for``."""

    def __init__(
        self, store: ImageStore, *, ttl_seconds: float = 86400.0, public_url: str | None = None
    ) -> None:
        self.store = store
        self.ttl_seconds = ttl_seconds
        # The base URL hwmgr fetches from (a Service's address in a deployment); default:
        # where ``start`` listens.
        self.public_url = public_url
        self.url = ""
        self._key = secrets.token_bytes(32)
        self._paths: dict[str, Path] = {}
        # image id -> (size, mtime_ns, sha256): hashed once per content, not per deploy.
        self._digests: dict[str, tuple[int, int, str]] = {}
        self._server: uvicorn.Server | None = None
        self._serve: asyncio.Task[None] | None = None

    def _sign(self, image_id: str, expires: int) -> str:
        return hmac.new(self._key, f"{image_id}:{expires}".encode(), hashlib.sha256).hexdigest()

    async def url_for(self, image_id: str) -> tuple[str, str]:
        """A signed URL of the image's data and its ``sha256:<hex>``; DriverError if none."""
        try:
            # The store names each image's file by the image id (its ``location``).
            path = self.store.path_for(image_id)
        except ValueError as exc:
            raise DriverError(f"Image {image_id!r} is not a valid image reference.") from exc
        try:
            stat = await asyncio.to_thread(path.stat)
        except OSError as exc:
            raise DriverError(f"Image {image_id} has no data to install ({exc.strerror}).") from exc
        known = self._digests.get(image_id)
        if known is None or known[:2] != (stat.st_size, stat.st_mtime_ns):
            digest = await asyncio.to_thread(_sha256, path)
            known = (stat.st_size, stat.st_mtime_ns, digest)
            self._digests[image_id] = known
        self._paths[image_id] = path
        expires = int(time.time() + self.ttl_seconds)
        url = f"{self.url}/images/{image_id}?expires={expires}&sig={self._sign(image_id, expires)}"
        return url, f"sha256:{known[2]}"

    async def _get(self, request: Request) -> Response:
        image_id = str(request.path_params["image_id"])
        try:
            expires = int(request.query_params.get("expires", ""))
        except ValueError:
            return PlainTextResponse("expires: missing or not a number", status_code=400)
        sig = request.query_params.get("sig", "")
        if not hmac.compare_digest(sig, self._sign(image_id, expires)):
            return PlainTextResponse("signature does not match", status_code=403)
        if expires < time.time():
            return PlainTextResponse("URL expired", status_code=403)
        path = self._paths.get(image_id)
        if path is None:
            return PlainTextResponse("image not found", status_code=404)
        return FileResponse(path, media_type="application/octet-stream")

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Serve on ``host`` and ``port`` (0: a free one); ``url`` says where hwmgr fetches."""
        app = Starlette(routes=[Route("/images/{image_id}", self._get, methods=["GET"])])
        config = uvicorn.Config(
            app, host=host, port=port, log_level="warning", access_log=False, lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._serve = asyncio.create_task(self._server.serve())
        # uvicorn exposes no "started" event, only a flag.
        while not self._server.started and not self._serve.done():  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        if self._serve.done():
            await self._serve
            raise RuntimeError(f"image exporter could not listen on {host}:{port}")
        bound = self._server.servers[0].sockets[0].getsockname()[1]
        self.url = (self.public_url or f"http://{host}:{bound}").rstrip("/")

    async def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._serve is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._serve
        self._server = self._serve = None
