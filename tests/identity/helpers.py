"""Request bodies and small helpers shared by the identity tests."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import Cloud

TOKENS = "/identity/v3/auth/tokens"


def password_body(
    password: str,
    *,
    name: str | None = None,
    user_id: str | None = None,
    scope: Any = None,
) -> dict[str, Any]:
    user: dict[str, Any] = {"password": password}
    if user_id is not None:
        user["id"] = user_id
    else:
        user["name"] = name
        user["domain"] = {"name": "Default"}
    auth: dict[str, Any] = {"identity": {"methods": ["password"], "password": {"user": user}}}
    if scope is not None:
        auth["scope"] = scope
    return {"auth": auth}


def project_scope(name: str, domain_id: str = "default") -> dict[str, Any]:
    return {"project": {"name": name, "domain": {"id": domain_id}}}


async def login(cloud: Cloud, name: str, password: str, scope: Any = None) -> httpx.Response:
    return await cloud.client.post(TOKENS, json=password_body(password, name=name, scope=scope))


async def token(cloud: Cloud, name: str, password: str, project: str | None = None) -> str:
    """A token for ``name``, scoped to ``project`` if given (else explicitly unscoped)."""
    scope = project_scope(project) if project else "unscoped"
    resp = await login(cloud, name, password, scope)
    assert resp.status_code == 201, resp.text
    return resp.headers["X-Subject-Token"]


async def create_user(
    cloud: Cloud, name: str, password: str, project_id: str | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name, "password": password, "domain_id": "default"}
    if project_id:
        body["default_project_id"] = project_id
    resp = await cloud.client.post("/identity/v3/users", json={"user": body}, headers=cloud.admin)
    assert resp.status_code == 201, resp.text
    user: dict[str, Any] = resp.json()["user"]
    return user


async def role_id(cloud: Cloud, name: str) -> str:
    resp = await cloud.client.get("/identity/v3/roles", params={"name": name}, headers=cloud.admin)
    assert resp.status_code == 200, resp.text
    rid: str = resp.json()["roles"][0]["id"]
    return rid
