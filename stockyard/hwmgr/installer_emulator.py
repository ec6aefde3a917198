"""An emulated installer: what a PXE-booted machine does, over real HTTP.

The only emulated edge is the boot itself: hwmgr's runner tells ``BootObserver``s that it
powered a node on with one-time PXE set (``on_pxe_boot``), where a real machine would
DHCP and chain-load its iPXE script. From there everything crosses HTTP as on real
hardware: fetch ``/v1/boot/{node}.ipxe``, read the task id, token and image URL from the
kernel arguments, download the image and check its sha256, "write" it (sleep), and POST
the call-back.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import shlex
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import httpx

log = logging.getLogger(__name__)
T = TypeVar("T")
# hwmgr answers these when it is busy or restarting: the request is worth retrying.
# Below httpx's default pool of 100 connections, so no request ever queues inside it.
HTTP_SLOTS = 64
_TRANSIENT = frozenset({429, 500, 502, 503, 504})


class InstallerError(Exception):
    """The emulated machine could not get its script or image."""


class _Transient(Exception):
    """hwmgr unreachable or busy (it may be restarting): try the same request again."""


def _check(answer: httpx.Response, what: str, ok: int) -> None:
    if answer.status_code == ok:
        return
    last = f"HTTP {answer.status_code} {answer.text[:200]}"
    if answer.status_code in _TRANSIENT:
        raise _Transient(last)
    raise InstallerError(f"{what}: {last}")


@dataclass
class BootScript:
    """What the installer learns from the iPXE kernel arguments."""

    task_id: str
    token: str = field(repr=False)
    mode: str
    callback_url: str
    image_url: str | None
    checksum: str | None


def parse_ipxe(script: str) -> BootScript:
    """Read ``stockyard.*`` kernel arguments from an iPXE script."""
    args: dict[str, str] = {}
    for line in script.splitlines():
        words = shlex.split(line)
        if words and words[0] == "kernel":
            for word in words[2:]:
                key, _, value = word.partition("=")
                if key.startswith("stockyard."):
                    args[key.removeprefix("stockyard.")] = value
    try:
        return BootScript(
            task_id=args["task"],
            token=args["token"],
            mode=args.get("mode", "install"),
            callback_url=args["callback"],
            image_url=args.get("image"),
            checksum=args.get("checksum"),
        )
    except KeyError as exc:
        raise InstallerError(f"iPXE script lacks stockyard.{exc.args[0]}") from exc


class InstallerEmulator:
    """A fleet of emulated PXE-booted machines talking to one hwmgr (a ``BootObserver``).

    ``fail`` makes the installer call back failure ("disk write error");
    ``never_call_back`` makes it go silent after the install. Both are plain attributes so
    a test can flip them between deploys; ``fail_nodes`` / ``silent_nodes`` do the same
    per node.

    The call-back is retried ``callback_attempts`` times with backoff when hwmgr answers
    a transient error (429, 5xx) or cannot be reached, as a real installer would: a
    busy or restarting hwmgr must not turn a good install into a deadline failure.
    """

    def __init__(
        self,
        hwmgr_url: str,
        *,
        install_seconds: float = 0.0,
        fail: bool = False,
        never_call_back: bool = False,
        timeout: float = 60.0,
        callback_attempts: int = 6,
        retry_delay: float = 0.5,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        if callback_attempts < 1:
            raise ValueError("callback_attempts must be >= 1")
        self.hwmgr_url = hwmgr_url.rstrip("/")
        self.install_seconds = install_seconds
        self.fail = fail
        self.never_call_back = never_call_back
        self.fail_nodes: set[str] = set()
        self.silent_nodes: set[str] = set()
        self.booted: list[str] = []
        self.errors: list[str] = []
        self.callback_attempts = callback_attempts
        self.retry_delay = retry_delay
        self._client = client or httpx.AsyncClient(timeout=timeout)
        # Hundreds of emulated machines share this one client: they take turns for its
        # connections here, not in httpcore's queue, which scans every waiting request
        # against every connection on each hand-out.
        self._slots = asyncio.Semaphore(HTTP_SLOTS)
        self._jobs: set[asyncio.Task[None]] = set()

    async def on_pxe_boot(self, node_uuid: str) -> None:
        """The node was powered on with PXE: run its installer in the background."""
        self.booted.append(node_uuid)
        job = asyncio.create_task(self._safe_run(node_uuid), name=f"installer-{node_uuid}")
        self._jobs.add(job)
        job.add_done_callback(self._jobs.discard)

    async def _safe_run(self, node_uuid: str) -> None:
        try:
            await self.run(node_uuid)
        except Exception as exc:
            # A real machine that cannot install simply never calls back.
            self.errors.append(f"{node_uuid}: {exc}")
            log.warning("emulated installer on node %s: %s", node_uuid, exc)

    async def run(self, node_uuid: str) -> BootScript:
        """One machine's whole install (or wipe) cycle, ending with the call-back."""
        url = f"{self.hwmgr_url}/v1/boot/{node_uuid}.ipxe"

        async def fetch_script() -> str:
            async with self._slots:
                answer = await self._client.get(url)
            _check(answer, "iPXE script", 200)
            return answer.text

        boot = parse_ipxe(await self._retrying("iPXE script", node_uuid, fetch_script))
        auth = {"Authorization": f"Bearer {boot.token}", "X-Task-Id": boot.task_id}
        status, message = "success", f"{boot.mode} finished"
        if boot.image_url and boot.checksum:
            image_url = boot.image_url
            digest = await self._retrying(
                "image", node_uuid, lambda: self._download(image_url, auth)
            )
            if digest != boot.checksum:
                status, message = "failure", f"image checksum mismatch: got {digest}"
        if self.install_seconds > 0:
            await asyncio.sleep(self.install_seconds)  # "writing" the disk
        if self.fail or node_uuid in self.fail_nodes:
            status, message = "failure", "disk write error"
        if self.never_call_back or node_uuid in self.silent_nodes:
            return boot
        await self._call_back(boot, {"status": status, "message": message, "type": boot.mode})
        return boot

    async def _retrying(self, what: str, node: str, once: Callable[[], Awaitable[T]]) -> T:
        """Run ``once`` until it works, as a PXE-booted machine retries its HTTP fetches:
        up to ``callback_attempts`` times with backoff while hwmgr is unreachable or busy
        (a restart), at once raising ``InstallerError`` on a permanent refusal."""
        last = ""
        for attempt in range(self.callback_attempts):
            if attempt:
                await asyncio.sleep(min(self.retry_delay * 2 ** (attempt - 1), 5.0))
            try:
                return await once()
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
            except _Transient as exc:
                last = str(exc)
            log.info("installer on node %s, %s: %s (attempt %d)", node, what, last, attempt + 1)
        raise InstallerError(f"{what}: {last} (gave up after {self.callback_attempts} attempts)")

    async def _call_back(self, boot: BootScript, body: dict[str, str]) -> None:
        headers = {"Authorization": f"Bearer {boot.token}"}
        tries = 0

        async def once() -> None:
            nonlocal tries
            tries += 1
            async with self._slots:
                answer = await self._client.post(boot.callback_url, json=body, headers=headers)
            if tries > 1 and answer.status_code == 409:
                return  # an earlier attempt was recorded but its answer got lost
            _check(answer, "call-back", 204)

        await self._retrying("call-back", boot.task_id, once)

    async def _download(self, url: str, headers: dict[str, str]) -> str:
        sha = hashlib.sha256()
        async with self._slots, self._client.stream("GET", url, headers=headers) as response:
            if response.status_code != 200:
                await response.aread()
                _check(response, "image", 200)
            async for chunk in response.aiter_bytes(1 << 20):
                sha.update(chunk)
        return sha.hexdigest()

    async def drain(self) -> None:
        """Wait for every running emulated install."""
        while self._jobs:
            await asyncio.gather(*list(self._jobs), return_exceptions=True)

    async def close(self) -> None:
        """Cancel running installs and close the HTTP client (also ``stop``)."""
        for job in list(self._jobs):
            job.cancel()
        await asyncio.gather(*list(self._jobs), return_exceptions=True)
        await self._client.aclose()

    async def stop(self) -> None:
        await self.close()
