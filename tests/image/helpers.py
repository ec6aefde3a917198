"""Helpers for the image API tests."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
from sqlalchemy import select

from stockyard.db.models import Project, Role, RoleAssignment, User
from tests.conftest import Cloud

V2 = "/image/v2"
PATCH_TYPE = "application/openstack-images-v2.1-json-patch"


async def make_member(cloud: Cloud, project_name: str, role: str = "member") -> dict[str, str]:
    """A new project with one user holding ``role`` in it; returns that user's headers."""
    async with cloud.state.db.session() as session:
        project = Project(name=project_name, domain_id="default")
        user = User(name=f"{project_name}-user", domain_id="default")
        session.add_all([project, user])
        await session.flush()
        role_id = await session.scalar(select(Role.id).where(Role.name == role))
        assert role_id is not None
        session.add(RoleAssignment(user_id=user.id, project_id=project.id, role_id=role_id))
        user_id, project_id = user.id, project.id
    return cloud.headers(await cloud.token_for(user_id, project_id))


async def create(
    cloud: Cloud, headers: dict[str, str] | None = None, **body: Any
) -> dict[str, Any]:
    body.setdefault("disk_format", "raw")
    body.setdefault("container_format", "bare")
    r = await cloud.client.post(f"{V2}/images", json=body, headers=headers or cloud.demo)
    assert r.status_code == 201, r.text
    result: dict[str, Any] = r.json()
    return result


async def upload(
    cloud: Cloud, image_id: str, data: bytes, headers: dict[str, str] | None = None
) -> httpx.Response:
    h = {**(headers or cloud.demo), "Content-Type": "application/octet-stream"}
    return await cloud.client.put(f"{V2}/images/{image_id}/file", content=data, headers=h)


async def patch(
    cloud: Cloud, image_id: str, ops: list[dict[str, Any]], headers: dict[str, str] | None = None
) -> httpx.Response:
    h = {**(headers or cloud.demo), "Content-Type": PATCH_TYPE}
    return await cloud.client.patch(f"{V2}/images/{image_id}", json=ops, headers=h)


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def sha512(data: bytes) -> str:
    return hashlib.sha512(data).hexdigest()
