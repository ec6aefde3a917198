"""Upload and download of image data, with the checksums a client verifies."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

from tests.conftest import Cloud
from tests.image.helpers import V2, create, md5, sha512, upload


async def test_create_upload_download_round_trip(cloud: Cloud) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    image = await create(cloud, name="round-trip")
    assert image["status"] == "queued"
    assert image["size"] is None and image["checksum"] is None

    r = await upload(cloud, image["id"], data)
    assert r.status_code == 204, r.text

    shown = (await cloud.client.get(f"{V2}/images/{image['id']}", headers=cloud.demo)).json()
    assert shown["status"] == "active"
    assert shown["size"] == len(data)
    assert shown["checksum"] == md5(data)
    assert shown["os_hash_algo"] == "sha512"
    assert shown["os_hash_value"] == sha512(data)

    r = await cloud.client.get(f"{V2}/images/{image['id']}/file", headers=cloud.demo)
    assert r.status_code == 200
    assert r.headers["content-md5"] == md5(data)
    assert r.headers["content-type"] == "application/octet-stream"
    assert r.content == data


async def test_download_without_data_is_204(cloud: Cloud) -> None:
    image = await create(cloud, name="empty")
    r = await cloud.client.get(f"{V2}/images/{image['id']}/file", headers=cloud.demo)
    assert r.status_code == 204
    assert r.content == b""


async def test_second_upload_is_409(cloud: Cloud) -> None:
    image = await create(cloud, name="twice")
    assert (await upload(cloud, image["id"], b"first")).status_code == 204
    r = await upload(cloud, image["id"], b"second")
    assert r.status_code == 409
    assert "active" in r.json()["message"]
    data = await cloud.client.get(f"{V2}/images/{image['id']}/file", headers=cloud.demo)
    assert data.content == b"first"


async def test_failed_upload_leaves_image_queued_and_no_file(cloud: Cloud) -> None:
    image = await create(cloud, name="broken")

    async def body() -> AsyncIterator[bytes]:
        yield b"x" * 1024
        raise ConnectionError("client went away")

    h = {**cloud.demo, "Content-Type": "application/octet-stream"}
    # How the client sees its own failure depends on the transport; the server side is
    # what matters here.
    with contextlib.suppress(Exception):
        await cloud.client.put(f"{V2}/images/{image['id']}/file", content=body(), headers=h)
    shown = (await cloud.client.get(f"{V2}/images/{image['id']}", headers=cloud.demo)).json()
    assert shown["status"] == "queued"
    assert shown["size"] is None
    store_dir = Path(cloud.state.settings.data_dir) / "images"
    leftovers = [p for p in store_dir.rglob("*") if p.is_file()] if store_dir.exists() else []
    assert leftovers == []
    # And the image can still be uploaded afterwards.
    assert (await upload(cloud, image["id"], b"ok")).status_code == 204


async def test_size_header_mismatch_is_400_and_image_stays_queued(cloud: Cloud) -> None:
    image = await create(cloud, name="sized")
    h = {
        **cloud.demo,
        "Content-Type": "application/octet-stream",
        "X-OpenStack-Image-Size": "10",
    }
    r = await cloud.client.put(f"{V2}/images/{image['id']}/file", content=b"abc", headers=h)
    assert r.status_code == 400
    assert "X-OpenStack-Image-Size" in r.json()["message"]
    shown = (await cloud.client.get(f"{V2}/images/{image['id']}", headers=cloud.demo)).json()
    assert shown["status"] == "queued"


async def test_upload_needs_formats_and_octet_stream(cloud: Cloud) -> None:
    r = await cloud.client.post(f"{V2}/images", json={"name": "noformat"}, headers=cloud.demo)
    image = r.json()
    r = await upload(cloud, image["id"], b"data")
    assert r.status_code == 400
    assert "disk_format" in r.json()["message"]

    image = await create(cloud, name="json-upload")
    h = {**cloud.demo, "Content-Type": "application/json"}
    r = await cloud.client.put(f"{V2}/images/{image['id']}/file", content=b"{}", headers=h)
    assert r.status_code == 415


async def test_delete_removes_data(cloud: Cloud) -> None:
    image = await create(cloud, name="gone")
    await upload(cloud, image["id"], b"payload")
    store_dir = Path(cloud.state.settings.data_dir) / "images"
    assert (store_dir / image["id"]).is_file()
    r = await cloud.client.delete(f"{V2}/images/{image['id']}", headers=cloud.demo)
    assert r.status_code == 204
    assert not (store_dir / image["id"]).exists()
    r = await cloud.client.get(f"{V2}/images/{image['id']}", headers=cloud.demo)
    assert r.status_code == 404
