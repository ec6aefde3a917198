"""2.81 ``POST /os-aggregates/{id}/images``: Nova's checks, then each host's agent really
caches the images in its driver (the fake driver records them; a driver without an image
cache logs the request as unsupported and the API still answers 202)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator

import pytest

from stockyard.compute.agent import ComputeAgent
from stockyard.compute.drivers.base import ComputeDriver
from stockyard.compute.drivers.fake import FakeDriver
from stockyard.db.models import Image
from tests.compute_api.helpers import V, add_host
from tests.conftest import Cloud

MV = "2.81"


class NoCacheDriver(FakeDriver):
    """A driver that, like the baremetal one, has no image cache."""

    cache_image = ComputeDriver.cache_image


@pytest.fixture
async def agents(cloud: Cloud) -> AsyncIterator[dict[str, ComputeAgent]]:
    started = {
        "h0": ComputeAgent("h0", FakeDriver("h0"), cloud.state.bus),
        "h1": ComputeAgent("h1", FakeDriver("h1"), cloud.state.bus),
        "bm": ComputeAgent("bm", NoCacheDriver("bm"), cloud.state.bus),
        "out": ComputeAgent("out", FakeDriver("out"), cloud.state.bus),
    }
    for name, agent in started.items():
        await add_host(cloud, name)
        await agent.subscribe()
    yield started
    for agent in started.values():
        await agent.stop()


async def _image(cloud: Cloud) -> str:
    async with cloud.state.db.session() as session:
        image = Image(name="c", status="active", visibility="public", disk_format="raw")
        session.add(image)
        await session.commit()
        return image.id


async def _aggregate(cloud: Cloud, hosts: list[str]) -> int:
    h = cloud.headers(cloud.admin_token, MV)
    r = await cloud.client.post(f"{V}/os-aggregates", json={"aggregate": {"name": "a"}}, headers=h)
    agg_id = int(r.json()["aggregate"]["id"])
    for host in hosts:
        body = {"add_host": {"host": host}}
        r = await cloud.client.post(f"{V}/os-aggregates/{agg_id}/action", json=body, headers=h)
        assert r.status_code == 200, r.text
    return agg_id


async def _settle(agents: dict[str, ComputeAgent]) -> None:
    for _ in range(20):  # the bus hands messages over in tasks
        await asyncio.sleep(0)
    for agent in agents.values():
        await agent.drain()


async def test_images_are_cached_on_the_aggregates_hosts(
    cloud: Cloud, agents: dict[str, ComputeAgent], caplog: pytest.LogCaptureFixture
) -> None:
    img1, img2 = await _image(cloud), await _image(cloud)
    agg_id = await _aggregate(cloud, ["h0", "h1", "bm"])
    h = cloud.headers(cloud.admin_token, MV)
    url = f"{V}/os-aggregates/{agg_id}/images"
    caplog.set_level(logging.INFO, logger="stockyard.compute.image_cache")
    r = await cloud.client.post(url, json={"cache": [{"id": img1}, {"id": img2}]}, headers=h)
    assert r.status_code == 202 and r.content == b""
    await _settle(agents)
    fake = {name: a.driver for name, a in agents.items()}
    assert isinstance(fake["h0"], FakeDriver) and isinstance(fake["h1"], FakeDriver)
    assert fake["h0"].cached_images == [img1, img2]
    assert fake["h1"].cached_images == [img1, img2]
    out = fake["out"]
    assert isinstance(out, FakeDriver) and out.cached_images == []  # not in the aggregate
    assert "host bm: driver fake does not support image pre-caching" in caplog.text
    assert f"host h0: image pre-cache for aggregate {agg_id} done: {img1} cached" in caplog.text
    # Asking again: already there, said so per host.
    r = await cloud.client.post(url, json={"cache": [{"id": img1}]}, headers=h)
    assert r.status_code == 202
    await _settle(agents)
    assert fake["h0"].cached_images == [img1, img2]
    assert f"{img1} existing" in caplog.text


async def test_nova_errors(cloud: Cloud, agents: dict[str, ComputeAgent]) -> None:
    img = await _image(cloud)
    agg_id = await _aggregate(cloud, ["h0"])
    h = cloud.headers(cloud.admin_token, MV)
    url = f"{V}/os-aggregates/{agg_id}/images"
    missing = str(uuid.uuid4())
    cases = [
        (url, {"cache": [{"id": img}, {"id": img}]}, 400, "Duplicate images"),
        (url, {"cache": [{"id": missing}]}, 400, f"Image {missing} could not be found"),
        (url, {"cache": []}, 400, "cache"),
        (url, {"cache": [{"id": "not-a-uuid"}]}, 400, "uuid"),
        (url, {"cache": [{"id": img, "x": 1}]}, 400, "x"),
        (url, {}, 400, "cache"),
        (f"{V}/os-aggregates/abc/images", {"cache": [{"id": img}]}, 400, "integer"),
        (f"{V}/os-aggregates/9999/images", {"cache": [{"id": img}]}, 404, "9999"),
    ]
    for target, body, status, text in cases:
        r = await cloud.client.post(target, json=body, headers=h)
        assert r.status_code == status, (body, r.text)
        assert text in r.text, (body, r.text)
    # Non-admins may not; before 2.81 the route does not exist.
    r = await cloud.client.post(
        url, json={"cache": [{"id": img}]}, headers=cloud.headers(cloud.demo_token, MV)
    )
    assert r.status_code == 403
    r = await cloud.client.post(
        url, json={"cache": [{"id": img}]}, headers=cloud.headers(cloud.admin_token, "2.80")
    )
    assert r.status_code == 404
    await _settle(agents)
    h0 = agents["h0"].driver
    assert isinstance(h0, FakeDriver) and h0.cached_images == []  # nothing was sent


async def test_empty_aggregate_is_accepted(cloud: Cloud) -> None:
    img = await _image(cloud)
    agg_id = await _aggregate(cloud, [])
    h = cloud.headers(cloud.admin_token, MV)
    r = await cloud.client.post(
        f"{V}/os-aggregates/{agg_id}/images", json={"cache": [{"id": img}]}, headers=h
    )
    assert r.status_code == 202
