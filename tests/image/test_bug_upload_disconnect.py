"""Regression: a client that disconnects mid-upload must not leave the image in 'saving'
(where it could never be uploaded again) nor leave a partial file."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from tests.conftest import Cloud
from tests.image.helpers import V2, create, upload


async def test_disconnect_mid_upload_reverts_to_queued(cloud: Cloud) -> None:
    image = await create(cloud, name="interrupted")
    app = cloud.client._transport.app  # type: ignore[attr-defined]
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": b"a" * 1_500_000, "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    headers = [
        (b"x-auth-token", cloud.demo_token.encode()),
        (b"content-type", b"application/octet-stream"),
        (b"content-length", b"10000000"),
    ]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "PUT",
        "scheme": "http",
        "path": f"{V2}/images/{image['id']}/file",
        "raw_path": f"{V2}/images/{image['id']}/file".encode(),
        "query_string": b"",
        "headers": headers,
        "server": ("127.0.0.1", 8774),
        "client": ("127.0.0.1", 5000),
        "root_path": "",
    }
    await app(scope, receive, send)

    shown = (await cloud.client.get(f"{V2}/images/{image['id']}", headers=cloud.demo)).json()
    assert shown["status"] == "queued"
    store_dir = Path(cloud.state.settings.data_dir) / "images"
    assert [p for p in store_dir.rglob("*") if p.is_file()] == []
    assert (await upload(cloud, image["id"], b"complete")).status_code == 204


async def test_delete_during_upload_leaves_no_data(cloud: Cloud) -> None:
    image = await create(cloud, name="racing")
    started, release = asyncio.Event(), asyncio.Event()

    async def body() -> AsyncIterator[bytes]:
        yield b"a" * 1024
        started.set()
        await release.wait()
        yield b"b" * 1024

    h = {**cloud.demo, "Content-Type": "application/octet-stream"}
    put = asyncio.create_task(
        cloud.client.put(f"{V2}/images/{image['id']}/file", content=body(), headers=h)
    )
    await started.wait()
    r = await cloud.client.delete(f"{V2}/images/{image['id']}", headers=cloud.demo)
    assert r.status_code == 204
    release.set()
    response = await put
    assert response.status_code == 410
    store_dir = Path(cloud.state.settings.data_dir) / "images"
    assert [p for p in store_dir.rglob("*") if p.is_file()] == []
