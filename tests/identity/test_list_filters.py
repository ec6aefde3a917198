"""Keystone's documented list filters: exact and inexact names (``name__icontains``...),
project parent_id / is_domain / tags, roles' domain_id; and ``GET /v3/auth/system``."""

from __future__ import annotations

from typing import Any

from tests.conftest import Cloud
from tests.identity.helpers import create_user, login, role_id

V3 = "/identity/v3"


async def _names(cloud: Cloud, path: str, **params: str) -> list[str]:
    resp = await cloud.client.get(f"{V3}/{path}", params=params, headers=cloud.admin)
    assert resp.status_code == 200, resp.text
    return sorted(r["name"] for r in resp.json()[path])


async def test_inexact_name_filters(cloud: Cloud) -> None:
    for name in ("web-frontend", "Web-Backend", "db_main"):
        body = {"project": {"name": name}}
        assert (
            await cloud.client.post(f"{V3}/projects", json=body, headers=cloud.admin)
        ).status_code == 201
        body = {"group": {"name": name}}
        assert (
            await cloud.client.post(f"{V3}/groups", json=body, headers=cloud.admin)
        ).status_code == 201
    for path in ("projects", "groups"):
        assert await _names(cloud, path, name__icontains="WEB") == ["Web-Backend", "web-frontend"]
        assert await _names(cloud, path, name__startswith="web") == ["web-frontend"]
        assert await _names(cloud, path, name__iendswith="END") == ["Web-Backend", "web-frontend"]
        assert await _names(cloud, path, name__iequals="DB_MAIN") == ["db_main"]
        # LIKE wildcards are taken literally.
        assert await _names(cloud, path, name__contains="_") == ["db_main"]
        assert await _names(cloud, path, name__contains="%") == []
    await create_user(cloud, "webmaster", "pw-webmaster")
    assert await _names(cloud, "users", name__startswith="web") == ["webmaster"]
    assert await _names(cloud, "domains", name__icontains="defa") == ["Default"]


async def test_project_filters(cloud: Cloud) -> None:
    tagged: dict[str, list[str]] = {"p1": ["a", "b"], "p2": ["b"], "p3": []}
    for name, tags in tagged.items():
        body: dict[str, Any] = {"project": {"name": name, "tags": tags}}
        await cloud.client.post(f"{V3}/projects", json=body, headers=cloud.admin)
    mine = {"name__startswith": "p"}
    assert await _names(cloud, "projects", tags="a,b", **mine) == ["p1"]
    assert await _names(cloud, "projects", **{"tags-any": "a,b"}, **mine) == ["p1", "p2"]
    assert await _names(cloud, "projects", **{"not-tags": "a,b"}, **mine) == ["p2", "p3"]
    assert await _names(cloud, "projects", **{"not-tags-any": "a"}, **mine) == ["p2", "p3"]
    assert len(await _names(cloud, "projects", parent_id="default")) == 5
    assert await _names(cloud, "projects", parent_id="ghost") == []
    assert await _names(cloud, "projects", is_domain="true") == []
    assert len(await _names(cloud, "projects", is_domain="false")) == 5
    assert await _names(cloud, "roles", domain_id="default") == []
    assert await _names(cloud, "roles", name="admin") == ["admin"]


async def test_auth_system(cloud: Cloud) -> None:
    resp = await cloud.client.get(f"{V3}/auth/system", headers=cloud.demo)
    assert resp.status_code == 200 and resp.json()["system"] == []
    user = await create_user(cloud, "sys", "sys-pw")
    await cloud.client.put(
        f"{V3}/system/users/{user['id']}/roles/{await role_id(cloud, 'reader')}",
        headers=cloud.admin,
    )
    tok = (await login(cloud, "sys", "sys-pw", "unscoped")).headers["X-Subject-Token"]
    resp = await cloud.client.get(f"{V3}/auth/system", headers={"X-Auth-Token": tok})
    assert resp.json()["system"] == [{"all": True}]
