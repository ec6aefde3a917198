"""Projects and domains: admin CRUD, member limits, 400/404/409."""

from __future__ import annotations

import pytest

from tests.conftest import Cloud
from tests.identity.helpers import login, project_scope

PROJECTS = "/identity/v3/projects"


async def test_project_crud(cloud: Cloud) -> None:
    body = {"project": {"name": "team-a", "description": "A team", "tags": ["x"]}}
    resp = await cloud.client.post(PROJECTS, json=body, headers=cloud.admin)
    assert resp.status_code == 201, resp.text
    project = resp.json()["project"]
    assert project["domain_id"] == "default"
    assert project["enabled"] is True and project["is_domain"] is False
    assert project["tags"] == ["x"]
    assert project["links"]["self"].endswith(f"/identity/v3/projects/{project['id']}")
    url = f"{PROJECTS}/{project['id']}"

    listed = await cloud.client.get(PROJECTS, params={"name": "team-a"}, headers=cloud.admin)
    assert [p["id"] for p in listed.json()["projects"]] == [project["id"]]
    by_domain = await cloud.client.get(PROJECTS, params={"domain_id": "other"}, headers=cloud.admin)
    assert by_domain.json()["projects"] == []

    resp = await cloud.client.patch(
        url, json={"project": {"description": "changed", "enabled": False}}, headers=cloud.admin
    )
    assert resp.status_code == 200
    assert resp.json()["project"]["description"] == "changed"
    assert resp.json()["project"]["enabled"] is False

    assert (await cloud.client.delete(url, headers=cloud.admin)).status_code == 204
    assert (await cloud.client.get(url, headers=cloud.admin)).status_code == 404
    assert (await cloud.client.delete(url, headers=cloud.admin)).status_code == 404


async def test_duplicate_project_is_409(cloud: Cloud) -> None:
    body = {"project": {"name": "demo", "domain_id": "default"}}
    resp = await cloud.client.post(PROJECTS, json=body, headers=cloud.admin)
    assert resp.status_code == 409
    assert resp.json()["error"]["code"] == 409


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"project": {}}, "project.name"),
        ({"project": {"name": ""}}, "project.name"),
        ({"project": {"name": "p", "enabled": "yes"}}, "project.enabled"),
        ({"project": {"name": "p", "tags": "x"}}, "project.tags"),
        ({"nothing": {}}, "project"),
    ],
)
async def test_bad_project_body_names_field(cloud: Cloud, body: object, field: str) -> None:
    resp = await cloud.client.post(PROJECTS, json=body, headers=cloud.admin)
    assert resp.status_code == 400
    assert field in resp.json()["error"]["message"]
    listed = await cloud.client.get(PROJECTS, headers=cloud.admin)
    assert {p["name"] for p in listed.json()["projects"]} == {"admin", "demo"}


async def test_unknown_domain_is_404(cloud: Cloud) -> None:
    body = {"project": {"name": "p", "domain_id": "ghost"}}
    resp = await cloud.client.post(PROJECTS, json=body, headers=cloud.admin)
    assert resp.status_code == 404


async def test_member_sees_only_its_own_project(cloud: Cloud) -> None:
    own = await cloud.client.get(f"{PROJECTS}/{cloud.seeded.demo_project_id}", headers=cloud.demo)
    assert own.status_code == 200
    assert own.json()["project"]["name"] == "demo"
    other = await cloud.client.get(
        f"{PROJECTS}/{cloud.seeded.admin_project_id}", headers=cloud.demo
    )
    assert other.status_code == 403
    assert (await cloud.client.get(PROJECTS, headers=cloud.demo)).status_code == 403
    resp = await cloud.client.post(PROJECTS, json={"project": {"name": "x"}}, headers=cloud.demo)
    assert resp.status_code == 403
    assert (await cloud.client.get(PROJECTS)).status_code == 401


async def test_disabling_project_revokes_its_tokens(cloud: Cloud) -> None:
    url = f"{PROJECTS}/{cloud.seeded.demo_project_id}"
    resp = await cloud.client.patch(url, json={"project": {"enabled": False}}, headers=cloud.admin)
    assert resp.status_code == 200
    assert (await cloud.client.get(url, headers=cloud.demo)).status_code == 401
    assert (await login(cloud, "demo", "demo-pw", project_scope("demo"))).status_code == 401


async def test_deleting_project_revokes_its_tokens(cloud: Cloud) -> None:
    url = f"{PROJECTS}/{cloud.seeded.demo_project_id}"
    assert (await cloud.client.delete(url, headers=cloud.admin)).status_code == 204
    resp = await cloud.client.get("/identity/v3/auth/projects", headers=cloud.demo)
    assert resp.status_code == 401


async def test_domains(cloud: Cloud) -> None:
    listed = await cloud.client.get("/identity/v3/domains", headers=cloud.admin)
    assert [d["id"] for d in listed.json()["domains"]] == ["default"]
    shown = await cloud.client.get("/identity/v3/domains/default", headers=cloud.admin)
    assert shown.json()["domain"]["name"] == "Default"
    missing = await cloud.client.get("/identity/v3/domains/ghost", headers=cloud.admin)
    assert missing.status_code == 404
    created = await cloud.client.post(
        "/identity/v3/domains", json={"domain": {"name": "Other"}}, headers=cloud.admin
    )
    assert created.status_code == 201
    dup = await cloud.client.post(
        "/identity/v3/domains", json={"domain": {"name": "Other"}}, headers=cloud.admin
    )
    assert dup.status_code == 409
    assert (await cloud.client.get("/identity/v3/domains", headers=cloud.demo)).status_code == 403
