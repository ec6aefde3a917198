"""Groups (Keystone's /v3/groups): CRUD, membership, group role assignments, and the
roles a member's tokens get from its groups."""

from __future__ import annotations

from typing import Any

from tests.conftest import Cloud
from tests.identity.helpers import create_user, login, project_scope, role_id, token

V3 = "/identity/v3"
GROUPS = f"{V3}/groups"


async def make_group(cloud: Cloud, name: str) -> dict[str, Any]:
    resp = await cloud.client.post(GROUPS, json={"group": {"name": name}}, headers=cloud.admin)
    assert resp.status_code == 201, resp.text
    group: dict[str, Any] = resp.json()["group"]
    return group


async def test_group_crud(cloud: Cloud) -> None:
    body = {"group": {"name": "ops", "description": "Operators"}}
    resp = await cloud.client.post(GROUPS, json=body, headers=cloud.admin)
    assert resp.status_code == 201, resp.text
    group = resp.json()["group"]
    assert set(group) == {"id", "name", "domain_id", "description", "links"}
    assert group["domain_id"] == "default" and group["description"] == "Operators"
    assert group["links"]["self"].endswith(f"/identity/v3/groups/{group['id']}")
    url = f"{GROUPS}/{group['id']}"

    dup = await cloud.client.post(GROUPS, json=body, headers=cloud.admin)
    assert dup.status_code == 409 and dup.json()["error"]["code"] == 409
    listed = await cloud.client.get(GROUPS, headers=cloud.admin)
    assert listed.status_code == 200
    assert [g["name"] for g in listed.json()["groups"]] == ["ops"]
    assert "self" in listed.json()["links"]
    by_name = await cloud.client.get(GROUPS, params={"name": "nope"}, headers=cloud.admin)
    assert by_name.json()["groups"] == []
    by_domain = await cloud.client.get(GROUPS, params={"domain_id": "default"}, headers=cloud.admin)
    assert len(by_domain.json()["groups"]) == 1

    patched = await cloud.client.patch(
        url, json={"group": {"name": "ops2", "description": ""}}, headers=cloud.admin
    )
    assert patched.status_code == 200 and patched.json()["group"]["name"] == "ops2"
    assert (await cloud.client.get(url, headers=cloud.admin)).json()["group"]["name"] == "ops2"
    assert (await cloud.client.delete(url, headers=cloud.admin)).status_code == 204
    missing = await cloud.client.get(url, headers=cloud.admin)
    assert missing.status_code == 404
    assert set(missing.json()["error"]) == {"code", "title", "message"}


async def test_group_bad_bodies(cloud: Cloud) -> None:
    long = await cloud.client.post(GROUPS, json={"group": {"name": "g" * 65}}, headers=cloud.admin)
    assert long.status_code == 400 and "group.name" in long.json()["error"]["message"]
    empty = await cloud.client.post(GROUPS, json={"group": {}}, headers=cloud.admin)
    assert empty.status_code == 400 and "group.name" in empty.json()["error"]["message"]
    ghost = await cloud.client.post(
        GROUPS, json={"group": {"name": "x", "domain_id": "ghost"}}, headers=cloud.admin
    )
    assert ghost.status_code == 404


async def test_membership(cloud: Cloud) -> None:
    group = await make_group(cloud, "devs")
    user = await create_user(cloud, "dora", "dora-pw")
    member_url = f"{GROUPS}/{group['id']}/users/{user['id']}"
    assert (await cloud.client.head(member_url, headers=cloud.admin)).status_code == 404
    assert (await cloud.client.put(member_url, headers=cloud.admin)).status_code == 204
    assert (await cloud.client.put(member_url, headers=cloud.admin)).status_code == 204
    assert (await cloud.client.head(member_url, headers=cloud.admin)).status_code == 204

    users = await cloud.client.get(f"{GROUPS}/{group['id']}/users", headers=cloud.admin)
    assert users.status_code == 200
    assert [u["name"] for u in users.json()["users"]] == ["dora"]
    assert "password_hash" not in users.json()["users"][0]
    groups = await cloud.client.get(f"{V3}/users/{user['id']}/groups", headers=cloud.admin)
    assert [g["id"] for g in groups.json()["groups"]] == [group["id"]]
    # A user may list its own groups, not someone else's.
    dora = await token(cloud, "dora", "dora-pw")
    own = await cloud.client.get(f"{V3}/users/{user['id']}/groups", headers={"X-Auth-Token": dora})
    assert own.status_code == 200
    other = await cloud.client.get(
        f"{V3}/users/{cloud.seeded.admin_user_id}/groups", headers={"X-Auth-Token": dora}
    )
    assert other.status_code == 403

    ghost = f"{GROUPS}/{group['id']}/users/ghost"
    assert (await cloud.client.put(ghost, headers=cloud.admin)).status_code == 404
    ghost_group = f"{GROUPS}/ghost/users/{user['id']}"
    assert (await cloud.client.put(ghost_group, headers=cloud.admin)).status_code == 404

    assert (await cloud.client.delete(member_url, headers=cloud.admin)).status_code == 204
    assert (await cloud.client.delete(member_url, headers=cloud.admin)).status_code == 404
    users = await cloud.client.get(f"{GROUPS}/{group['id']}/users", headers=cloud.admin)
    assert users.json()["users"] == []


async def test_members_cannot_touch_groups_or_assignments(cloud: Cloud) -> None:
    group = await make_group(cloud, "ops")
    rid = await role_id(cloud, "admin")
    demo_user, demo_project = cloud.seeded.demo_user_id, cloud.seeded.demo_project_id
    calls = [
        ("GET", GROUPS),
        ("POST", GROUPS),
        ("GET", f"{GROUPS}/{group['id']}"),
        ("PATCH", f"{GROUPS}/{group['id']}"),
        ("DELETE", f"{GROUPS}/{group['id']}"),
        ("GET", f"{GROUPS}/{group['id']}/users"),
        ("PUT", f"{GROUPS}/{group['id']}/users/{demo_user}"),
        ("HEAD", f"{GROUPS}/{group['id']}/users/{demo_user}"),
        ("PUT", f"{V3}/projects/{demo_project}/groups/{group['id']}/roles/{rid}"),
        ("GET", f"{V3}/projects/{demo_project}/groups/{group['id']}/roles"),
        ("PUT", f"{V3}/system/users/{demo_user}/roles/{rid}"),
        ("GET", f"{V3}/system/users/{demo_user}/roles"),
        ("GET", f"{V3}/role_assignments"),
        ("PATCH", f"{V3}/domains/default"),
        ("DELETE", f"{V3}/domains/default"),
    ]
    for method, url in calls:
        body = {"group": {"name": "x"}} if method in ("POST", "PATCH") else None
        if url.endswith("/domains/default") and body:
            body = {"domain": {"enabled": False}}
        resp = await cloud.client.request(method, url, json=body, headers=cloud.demo)
        assert resp.status_code == 403, (method, url, resp.status_code)
    # Nothing changed.
    members = await cloud.client.get(f"{GROUPS}/{group['id']}/users", headers=cloud.admin)
    assert members.json()["users"] == []


async def test_group_roles_reach_member_tokens(cloud: Cloud) -> None:
    group = await make_group(cloud, "builders")
    user = await create_user(cloud, "erin", "erin-pw")
    project = cloud.seeded.demo_project_id
    member = await role_id(cloud, "member")
    grant = f"{V3}/projects/{project}/groups/{group['id']}/roles/{member}"
    assert (await cloud.client.head(grant, headers=cloud.admin)).status_code == 404
    assert (await cloud.client.put(grant, headers=cloud.admin)).status_code == 204
    assert (await cloud.client.head(grant, headers=cloud.admin)).status_code == 204
    listed = await cloud.client.get(
        f"{V3}/projects/{project}/groups/{group['id']}/roles", headers=cloud.admin
    )
    assert [r["name"] for r in listed.json()["roles"]] == ["member"]

    # Not a member yet: no access.
    assert (await login(cloud, "erin", "erin-pw", project_scope("demo"))).status_code == 401
    member_url = f"{GROUPS}/{group['id']}/users/{user['id']}"
    await cloud.client.put(member_url, headers=cloud.admin)
    resp = await login(cloud, "erin", "erin-pw", project_scope("demo"))
    assert resp.status_code == 201, resp.text
    assert {r["name"] for r in resp.json()["token"]["roles"]} == {"member", "reader"}
    erin = resp.headers["X-Subject-Token"]
    auth_projects = await cloud.client.get(f"{V3}/auth/projects", headers={"X-Auth-Token": erin})
    assert [p["id"] for p in auth_projects.json()["projects"]] == [project]

    # Leaving the group revokes the token that carried the group's role.
    assert (await cloud.client.delete(member_url, headers=cloud.admin)).status_code == 204
    gone = await cloud.client.get(f"{V3}/auth/projects", headers={"X-Auth-Token": erin})
    assert gone.status_code == 401
    assert (await login(cloud, "erin", "erin-pw", project_scope("demo"))).status_code == 401

    # Revoking the group's grant revokes its members' tokens on the project.
    await cloud.client.put(member_url, headers=cloud.admin)
    erin = (await login(cloud, "erin", "erin-pw", project_scope("demo"))).headers["X-Subject-Token"]
    assert (await cloud.client.delete(grant, headers=cloud.admin)).status_code == 204
    gone = await cloud.client.get(f"{V3}/auth/projects", headers={"X-Auth-Token": erin})
    assert gone.status_code == 401
    assert (await cloud.client.delete(grant, headers=cloud.admin)).status_code == 404


async def test_group_domain_grant_and_delete_group_revokes(cloud: Cloud) -> None:
    group = await make_group(cloud, "domain-admins")
    user = await create_user(cloud, "fay", "fay-pw")
    await cloud.client.put(f"{GROUPS}/{group['id']}/users/{user['id']}", headers=cloud.admin)
    reader = await role_id(cloud, "reader")
    grant = f"{V3}/domains/default/groups/{group['id']}/roles/{reader}"
    assert (await cloud.client.put(grant, headers=cloud.admin)).status_code == 204
    resp = await login(cloud, "fay", "fay-pw", {"domain": {"id": "default"}})
    assert resp.status_code == 201, resp.text
    assert resp.json()["token"]["domain"]["id"] == "default"
    fay = resp.headers["X-Subject-Token"]
    url = f"{GROUPS}/{group['id']}"
    assert (await cloud.client.delete(url, headers=cloud.admin)).status_code == 204
    assert (
        await cloud.client.get(f"{V3}/auth/domains", headers={"X-Auth-Token": fay})
    ).status_code == 401
    assert (await login(cloud, "fay", "fay-pw", {"domain": {"id": "default"}})).status_code == 401
