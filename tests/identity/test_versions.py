"""Version discovery as keystoneauth reads it."""

from __future__ import annotations

import pytest

from tests.conftest import Cloud


@pytest.mark.parametrize("path", ["/identity", "/identity/"])
async def test_root_lists_v3(cloud: Cloud, path: str) -> None:
    resp = await cloud.client.get(path)
    assert resp.status_code == 300
    (version,) = resp.json()["versions"]["values"]
    assert version["id"] == "v3.14"
    assert version["status"] == "stable"
    assert version["links"] == [{"rel": "self", "href": "http://127.0.0.1:8774/identity/v3/"}]
    assert version["media-types"][0]["base"] == "application/json"


@pytest.mark.parametrize("path", ["/identity/v3", "/identity/v3/"])
async def test_v3_document(cloud: Cloud, path: str) -> None:
    resp = await cloud.client.get(path)
    assert resp.status_code == 200
    assert resp.json()["version"]["id"] == "v3.14"
