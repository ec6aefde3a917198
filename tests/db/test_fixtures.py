"""The shared fixtures give the same API on every backend."""

from __future__ import annotations

import pytest

from tests.conftest import Cloud


async def test_cloud_any_serves_the_api(cloud_any: Cloud) -> None:
    resp = await cloud_any.client.get("/identity/v3/projects", headers=cloud_any.admin)
    assert resp.status_code == 200
    names = {p["name"] for p in resp.json()["projects"]}
    assert {"admin", "demo"} <= names


@pytest.mark.backend("postgresql", "mariadb")
async def test_backend_marker_moves_cloud_to_a_server(cloud: Cloud, backend: str) -> None:
    dialect = cloud.state.db.engine.dialect.name
    assert dialect == {"postgresql": "postgresql", "mariadb": "mysql"}[backend]
    resp = await cloud.client.get("/identity/v3/users", headers=cloud.admin)
    assert resp.status_code == 200


@pytest.mark.backend("sqlite", "postgresql", "mariadb")
async def test_auth_projects_on_every_backend(cloud: Cloud, backend: str) -> None:
    resp = await cloud.client.get("/identity/v3/auth/projects", headers=cloud.demo)
    assert resp.status_code == 200
    assert [p["name"] for p in resp.json()["projects"]] == ["demo"]
