"""Helpers for the Block Storage tests: Tempest's response schemas and waiting on rows."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import jsonschema

from stockyard.volume.service import VolumeService
from tests.conftest import Cloud

V3 = "/volume/v3"


def conform(schema: dict[str, Any], response: httpx.Response) -> Any:
    """Check ``response`` against a ``tempest.lib.api_schema.response.volume`` schema."""
    assert response.status_code in schema["status_code"], response.text
    body = response.json() if response.content else None
    if "response_body" in schema:
        jsonschema.Draft4Validator(schema["response_body"]).validate(body)
    return body


def vh(token: str, version: str | None = None) -> dict[str, str]:
    headers = {"X-Auth-Token": token}
    if version:
        headers["OpenStack-API-Version"] = f"volume {version}"
    return headers


async def settle(service: VolumeService, rounds: int = 3) -> None:
    """Let hints run, then run the reconciler (as a later tick would)."""
    for _ in range(rounds):
        await asyncio.sleep(0)
    await service.reconcile_once()


async def create_volume(cloud: Cloud, token: str, **fields: Any) -> dict[str, Any]:
    body = {"volume": {"size": 1, **fields}}
    resp = await cloud.client.post(f"{V3}/volumes", json=body, headers=vh(token))
    assert resp.status_code == 202, resp.text
    volume: dict[str, Any] = resp.json()["volume"]
    return volume


async def wait_status(
    cloud: Cloud, token: str, path: str, key: str, wanted: str, within: float = 20
) -> dict[str, Any]:
    """Poll ``GET path`` until ``body[key].status`` is ``wanted`` (or 404 for 'deleted')."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    last: Any = None
    while loop.time() < deadline:
        resp = await cloud.client.get(path, headers=vh(token))
        if wanted == "deleted" and resp.status_code == 404:
            return {}
        if resp.status_code == 200:
            last = resp.json()[key]
            if last["status"] == wanted:
                return dict(last)
        await asyncio.sleep(0.05)
    raise AssertionError(f"{path} never reached {wanted}; last: {last}")


async def upload_image(cloud: Cloud, **fields: Any) -> str:
    """An active 64 KiB raw image of the demo project (``fields``: more of its body)."""
    body = {"name": "img", "disk_format": "raw", "container_format": "bare", **fields}
    r = await cloud.client.post("/image/v2/images", json=body, headers=cloud.demo)
    assert r.status_code == 201, r.text
    image_id = str(r.json()["id"])
    up = await cloud.client.put(
        f"/image/v2/images/{image_id}/file",
        content=b"\0" * 65536,
        headers={"X-Auth-Token": cloud.demo_token, "Content-Type": "application/octet-stream"},
    )
    assert up.status_code == 204, up.text
    return image_id
