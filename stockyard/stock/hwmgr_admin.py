"""Writes to a region's hardware manager for the stock API: enrol, manage, delete nodes.

The read side is :mod:`stockyard.stock.hardware`; both use the same endpoints (settings
and ``<data_dir>/hwmgr/<region>/endpoint.json``) and hwmgr's service token, which never
leaves the control plane. Errors come back as :class:`~stockyard.stock.StockError` with
hwmgr's own message (it names the field or the BMC), so the API can pass them on.
"""

from __future__ import annotations

import ssl
from typing import Any

import httpx

from stockyard.settings import Settings
from stockyard.stock.errors import StockConflict, StockError, StockInvalid, StockNotFound
from stockyard.stock.hardware import Endpoint, endpoints, hwmgr_client

Json = dict[str, Any]


class HwmgrUnavailable(StockError):
    """The region's hardware manager did not answer (the API says 503)."""


class HwmgrAdmin:
    """One region's hwmgr at a time; ``transport`` lets tests stand in for hwmgr."""

    def __init__(
        self, settings: Settings, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.settings = settings
        self.transport = transport
        self._tls: ssl.SSLContext | None = None

    def endpoint(self, region: str) -> Endpoint:
        for ep in endpoints(self.settings):
            if ep.region == region:
                return ep
        raise StockInvalid(f"region: no hardware manager is configured for region {region}")

    async def _call(self, region: str, method: str, path: str, body: Json | None = None) -> Any:
        ep = self.endpoint(region)
        if self._tls is None:
            self._tls = ssl.create_default_context()
        # BMC calls (manage asks the BMC for its power state) may take a while.
        timeout = max(self.settings.hwmgr_read_timeout_seconds, 30.0)
        try:
            async with hwmgr_client(ep, timeout, self._tls, self.transport) as client:
                resp = await client.request(method, path, json=body)
        except httpx.HTTPError as exc:
            text = str(exc) or type(exc).__name__
            raise HwmgrUnavailable(
                f"the hardware manager of region {region} did not answer: {text}"
            ) from exc
        if resp.status_code < 300:
            return resp.json() if resp.content else None
        try:
            message = str(resp.json()["error"]["message"])
        except (ValueError, KeyError, TypeError):
            message = f"HTTP {resp.status_code}"
        if resp.status_code == 404:
            raise StockNotFound(message)
        if resp.status_code == 409:
            raise StockConflict(message)
        if resp.status_code in (400, 422, 502):
            # 502 is hwmgr's "the BMC did not answer / refused": the caller's BMC details.
            raise StockInvalid(message)
        raise HwmgrUnavailable(
            f"the hardware manager of region {region} answered HTTP {resp.status_code}: {message}"
        )

    async def find(self, region: str, name: str) -> Json | None:
        """The region's node named ``name``, if hwmgr has one."""
        nodes = (await self._call(region, "GET", "/v1/nodes"))["nodes"]
        return next((n for n in nodes if n["name"] == name), None)

    async def enroll(self, region: str, body: Json) -> Json:
        node: Json = await self._call(region, "POST", "/v1/nodes", body)
        return node

    async def update_bmc(self, region: str, node_uuid: str, bmc: Json) -> Json:
        node: Json = await self._call(region, "PATCH", f"/v1/nodes/{node_uuid}", {"bmc": bmc})
        return node

    async def manage(self, region: str, node_uuid: str) -> Json:
        """enrolled -> available once the BMC answers a power-state query."""
        node: Json = await self._call(region, "POST", f"/v1/nodes/{node_uuid}/manage")
        return node

    async def delete(self, region: str, node_uuid: str) -> None:
        """Delete the node; one hwmgr no longer has is already gone."""
        try:
            await self._call(region, "DELETE", f"/v1/nodes/{node_uuid}")
        except StockNotFound:
            return
