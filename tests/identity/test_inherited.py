"""OS-INHERIT: a role on a domain inherited by each of its projects, for users and groups;
what it gives tokens, and how role_assignments lists it."""

from __future__ import annotations

from typing import Any

from tests.conftest import Cloud
from tests.identity.helpers import create_user, login, project_scope, role_id

V3 = "/identity/v3"
RA = f"{V3}/role_assignments"


def inherit_url(actors: str, actor_id: str, rid: str = "") -> str:
    tail = f"/{rid}" if rid else ""
    return f"{V3}/OS-INHERIT/domains/default/{actors}/{actor_id}/roles{tail}/inherited_to_projects"


async def _rows(cloud: Cloud, **params: str) -> list[dict[str, Any]]:
    resp = await cloud.client.get(RA, params=params, headers=cloud.admin)
    assert resp.status_code == 200, resp.text
    rows: list[dict[str, Any]] = resp.json()["role_assignments"]
    return rows


async def test_inherited_user_grant(cloud: Cloud) -> None:
    user = await create_user(cloud, "ian", "ian-pw")
    reader = await role_id(cloud, "reader")
    url = inherit_url("users", user["id"], reader)
    assert (await cloud.client.head(url, headers=cloud.admin)).status_code == 404
    assert (await login(cloud, "ian", "ian-pw", project_scope("demo"))).status_code == 401
    assert (await cloud.client.put(url, headers=cloud.admin)).status_code == 204
    assert (await cloud.client.put(url, headers=cloud.admin)).status_code == 204
    assert (await cloud.client.head(url, headers=cloud.admin)).status_code == 204
    assert (await cloud.client.get(url, headers=cloud.admin)).status_code == 204
    listed = await cloud.client.get(inherit_url("users", user["id"]), headers=cloud.admin)
    assert [r["name"] for r in listed.json()["roles"]] == ["reader"]
    # Not a grant on the domain itself.
    direct = await cloud.client.get(
        f"{V3}/domains/default/users/{user['id']}/roles", headers=cloud.admin
    )
    assert direct.json()["roles"] == []
    assert (await login(cloud, "ian", "ian-pw", {"domain": {"id": "default"}})).status_code == 401

    # Every project of the domain, the existing and the new.
    resp = await login(cloud, "ian", "ian-pw", project_scope("demo"))
    assert resp.status_code == 201, resp.text
    assert [r["name"] for r in resp.json()["token"]["roles"]] == ["reader"]
    tok = resp.headers["X-Subject-Token"]
    await cloud.client.post(
        f"{V3}/projects", json={"project": {"name": "late"}}, headers=cloud.admin
    )
    assert (await login(cloud, "ian", "ian-pw", project_scope("late"))).status_code == 201
    mine = await cloud.client.get(f"{V3}/auth/projects", headers={"X-Auth-Token": tok})
    assert {p["name"] for p in mine.json()["projects"]} == {"admin", "demo", "late"}

    rows = await _rows(cloud, **{"user.id": user["id"]})
    assert len(rows) == 1
    assert rows[0]["scope"] == {"domain": {"id": "default"}, "OS-INHERIT:inherited_to": "projects"}
    assert rows[0]["links"]["assignment"].endswith(
        f"/v3/OS-INHERIT/domains/default/users/{user['id']}/roles/{reader}/inherited_to_projects"
    )
    assert len(await _rows(cloud, **{"scope.OS-INHERIT:inherited_to": "projects"})) == 1
    effective = await _rows(cloud, effective="", **{"user.id": user["id"]})
    assert sorted(r["scope"]["project"]["id"] for r in effective) == sorted(
        p["id"] for p in mine.json()["projects"]
    )
    assert all("OS-INHERIT:inherited_to" not in r["scope"] for r in effective)
    on_demo = await _rows(cloud, effective="", **{"scope.project.id": cloud.seeded.demo_project_id})
    assert user["id"] in {r["user"]["id"] for r in on_demo}

    # Revoking it revokes the tokens that carried it.
    assert (await cloud.client.delete(url, headers=cloud.admin)).status_code == 204
    assert (
        await cloud.client.get(f"{V3}/auth/projects", headers={"X-Auth-Token": tok})
    ).status_code == 401
    assert (await cloud.client.delete(url, headers=cloud.admin)).status_code == 404


async def test_inherited_group_grant(cloud: Cloud) -> None:
    user = await create_user(cloud, "jo", "jo-pw")
    group = (
        await cloud.client.post(
            f"{V3}/groups", json={"group": {"name": "inh"}}, headers=cloud.admin
        )
    ).json()["group"]
    await cloud.client.put(f"{V3}/groups/{group['id']}/users/{user['id']}", headers=cloud.admin)
    member = await role_id(cloud, "member")
    url = inherit_url("groups", group["id"], member)
    assert (await cloud.client.put(url, headers=cloud.admin)).status_code == 204
    resp = await login(cloud, "jo", "jo-pw", project_scope("demo"))
    assert resp.status_code == 201
    assert {r["name"] for r in resp.json()["token"]["roles"]} == {"member", "reader"}
    rows = await _rows(cloud, include_names="", **{"group.id": group["id"]})
    assert rows[0]["scope"]["OS-INHERIT:inherited_to"] == "projects"
    assert rows[0]["scope"]["domain"] == {"id": "default", "name": "Default"}
    effective = await _rows(cloud, effective="", **{"user.id": user["id"]})
    assert effective and all("membership" in r["links"] for r in effective)
    bad = await cloud.client.get(
        RA, params={"scope.OS-INHERIT:inherited_to": "domains"}, headers=cloud.admin
    )
    assert bad.status_code == 400


async def test_members_cannot_grant_inherited(cloud: Cloud) -> None:
    rid = await role_id(cloud, "admin")
    url = inherit_url("users", cloud.seeded.demo_user_id, rid)
    assert (await cloud.client.put(url, headers=cloud.demo)).status_code == 403
    assert (await cloud.client.head(url, headers=cloud.admin)).status_code == 404
