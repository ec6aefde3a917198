"""Stand-in hwmgrs for the hardware view: endpoint files as the lab writes them and an
httpx transport answering hwmgr's ``/v1/nodes`` and ``/v1/tasks`` per region."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from stockyard.api.stock.hardware import READER_KEY
from stockyard.stock.hardware import HardwareReader
from tests.conftest import Cloud

TOKEN = "hwmgr-service-token"


def node(uuid: str, name: str, state: str, power: str | None = "on", err: str | None = None
         ) -> dict[str, Any]:  # fmt: skip
    return {"uuid": uuid, "name": name, "provision_state": state, "power_state": power,
            "last_error": err, "reservation": "conductor" if state == "deploying" else None,
            "region": "?", "az": "az1", "rack": "r1", "resource_class": "BM_GOLD"}  # fmt: skip


def task(uuid: str, node_uuid: str, phase: str, created: str, finished: str | None = None
         ) -> dict[str, Any]:  # fmt: skip
    return {"uuid": uuid, "node_uuid": node_uuid, "type": "install", "state": phase,
            "image_url": "http://secret/signed?sig=x", "image_checksum": "sha256:00",
            "deadline": None, "attempts": 1, "last_error": None, "created_at": created,
            "updated_at": created, "finished_at": finished}  # fmt: skip


class FakeHwmgrs:
    """``regions``: region -> (nodes, tasks); a region in ``down`` refuses connections."""

    def __init__(self, regions: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]]):
        self.regions = regions
        self.down: set[str] = set()
        self.calls: list[str] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        region = request.url.host.split(".")[0]
        self.calls.append(f"{region} {request.url.path}?{request.url.query.decode()}")
        if region in self.down:
            raise httpx.ConnectError("Connection refused", request=request)
        if request.headers.get("x-auth-token") != TOKEN:
            return httpx.Response(401, json={"error": {"message": "token"}})
        nodes, tasks = self.regions[region]
        if request.url.path == "/v1/nodes":
            return httpx.Response(200, json={"nodes": nodes})
        state = request.url.params.get("state")
        return httpx.Response(
            200, json={"tasks": [t for t in tasks if state is None or t["state"] == state]}
        )

    def install(self, cloud: Cloud, data_dir: Path) -> None:
        """Endpoint files under ``data_dir/hwmgr`` and the API's reader on this transport."""
        for region in self.regions:
            folder = data_dir / "hwmgr" / region
            folder.mkdir(parents=True, exist_ok=True)
            doc = {"region": region, "url": f"http://{region.lower()}.hwmgr:1/", "token": TOKEN}
            (folder / "endpoint.json").write_text(json.dumps(doc))
        reader = HardwareReader(cloud.state.settings, transport=httpx.MockTransport(self.handler))
        cloud.state.extra[READER_KEY] = reader
