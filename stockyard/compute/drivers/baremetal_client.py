"""The baremetal driver's view of hwmgr: a thin async REST client with the service token.

Every failure becomes ``HwmgrCallError`` (an HTTP answer with hwmgr's own message) or
``HwmgrUnreachable`` (no answer); both are ``DriverError`` so a message always reaches
the user's fault readable.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from pydantic import SecretStr

from stockyard.compute.drivers.base import DriverError

Json = dict[str, Any]


class HwmgrCallError(DriverError):
    """hwmgr answered with an error status; ``message`` is hwmgr's text."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class HwmgrUnreachable(DriverError):
    """hwmgr did not answer (connection refused, timeout)."""


class HwmgrClient:
    """``/v1`` of one region's hwmgr. One connection pool shared by every caller."""

    def __init__(
        self,
        base_url: str,
        token: str | SecretStr,
        *,
        timeout: float = 120.0,
        max_connections: int = 64,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        secret = token.get_secret_value() if isinstance(token, SecretStr) else token
        self.base_url = base_url.rstrip("/")
        # Thousands of deploys queue here for one of ``max_connections`` slots, never
        # inside httpx: httpcore scans every queued request against every connection
        # each time one is handed out, which made a 1,000-node burst spend an eighth of
        # the agent's CPU in its pool bookkeeping.
        self._slots = asyncio.Semaphore(max_connections)
        # pool=None: a queued call waits for a connection instead of timing out.
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers={"X-Auth-Token": secret},
            timeout=httpx.Timeout(timeout, pool=None),
            limits=httpx.Limits(max_connections=max_connections),
            transport=transport,
        )

    async def close(self) -> None:
        await self._http.aclose()

    async def _call(
        self, method: str, path: str, json: Json | None = None, params: dict[str, str] | None = None
    ) -> Any:
        try:
            async with self._slots:
                response = await self._http.request(
                    method,
                    path,
                    json=json,
                    params={k: v for k, v in (params or {}).items() if v},
                )
        except httpx.HTTPError as exc:
            raise HwmgrUnreachable(
                f"Hardware manager at {self.base_url} did not answer: {exc or type(exc).__name__}"
            ) from exc
        if response.status_code >= 400:
            raise HwmgrCallError(response.status_code, _message(response))
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    # -- nodes ---------------------------------------------------------------------------

    async def nodes(self, **filters: str) -> list[Json]:
        """``GET /v1/nodes`` with ``region``/``az``/``rack``/``provision_state`` filters."""
        body = await self._call("GET", "/v1/nodes", params=filters)
        return list(body["nodes"])

    async def node(self, node_uuid: str) -> Json:
        body: Json = await self._call("GET", f"/v1/nodes/{node_uuid}")
        return body

    async def enroll(self, body: Json) -> Json:
        node: Json = await self._call("POST", "/v1/nodes", json=body)
        return node

    async def delete(self, node_uuid: str) -> None:
        await self._call("DELETE", f"/v1/nodes/{node_uuid}")

    async def update_bmc(self, node_uuid: str, bmc: Json) -> Json:
        """``PATCH /v1/nodes/{uuid}``: new BMC details (any subset; password write-only)."""
        node: Json = await self._call("PATCH", f"/v1/nodes/{node_uuid}", json={"bmc": bmc})
        return node

    async def manage(self, node_uuid: str) -> Json:
        node: Json = await self._call("POST", f"/v1/nodes/{node_uuid}/manage")
        return node

    async def power(self, node_uuid: str) -> str:
        """The BMC's power state now: ``on`` or ``off`` (hwmgr asks the BMC)."""
        body = await self._call("GET", f"/v1/nodes/{node_uuid}/power")
        return str(body["power_state"])

    async def set_power(self, node_uuid: str, target: str) -> str:
        """``on``/``off``/``cycle``; returns once the BMC reports the resulting state."""
        body = await self._call("PUT", f"/v1/nodes/{node_uuid}/power", json={"target": target})
        return str(body["power_state"])

    # -- tasks ---------------------------------------------------------------------------

    async def deploy(self, node_uuid: str, image_url: str, checksum: str) -> Json:
        task: Json = await self._call(
            "POST",
            f"/v1/nodes/{node_uuid}/deploy",
            json={"image_url": image_url, "image_checksum": checksum},
        )
        return task

    async def release(self, node_uuid: str) -> Json:
        task: Json = await self._call("POST", f"/v1/nodes/{node_uuid}/release")
        return task

    async def task(self, task_uuid: str) -> Json:
        task: Json = await self._call("GET", f"/v1/tasks/{task_uuid}")
        return task

    async def tasks(self, node: str | None = None, state: str | None = None) -> list[Json]:
        """Tasks oldest first, optionally of one node and/or in one state."""
        body = await self._call(
            "GET", "/v1/tasks", params={"node": node or "", "state": state or ""}
        )
        return list(body["tasks"])


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if body.get("detail"):
            return str(body["detail"])
    text = response.text.strip()[:300]
    return f"hardware manager answered HTTP {response.status_code}" + (f": {text}" if text else "")
