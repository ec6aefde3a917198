"""Roles and role assignments, and what they change in new tokens."""

from __future__ import annotations

from tests.conftest import Cloud
from tests.identity.helpers import create_user, login, project_scope, role_id, token

ROLES = "/identity/v3/roles"


def grant_url(cloud: Cloud, user_id: str, rid: str) -> str:
    return f"/identity/v3/projects/{cloud.seeded.demo_project_id}/users/{user_id}/roles/{rid}"


async def test_role_crud(cloud: Cloud) -> None:
    listed = await cloud.client.get(ROLES, headers=cloud.admin)
    assert {r["name"] for r in listed.json()["roles"]} == {
        "admin",
        "manager",
        "member",
        "reader",
        "service",
    }
    resp = await cloud.client.post(ROLES, json={"role": {"name": "auditor"}}, headers=cloud.admin)
    assert resp.status_code == 201
    role = resp.json()["role"]
    assert role["links"]["self"].endswith(f"/v3/roles/{role['id']}")
    dup = await cloud.client.post(ROLES, json={"role": {"name": "auditor"}}, headers=cloud.admin)
    assert dup.status_code == 409
    url = f"{ROLES}/{role['id']}"
    assert (await cloud.client.get(url, headers=cloud.admin)).json()["role"]["name"] == "auditor"
    assert (await cloud.client.delete(url, headers=cloud.admin)).status_code == 204
    assert (await cloud.client.get(url, headers=cloud.admin)).status_code == 404
    bad = await cloud.client.post(ROLES, json={"role": {"name": 5}}, headers=cloud.admin)
    assert bad.status_code == 400 and "role.name" in bad.json()["error"]["message"]


async def test_roles_are_admin_only(cloud: Cloud) -> None:
    assert (await cloud.client.get(ROLES, headers=cloud.demo)).status_code == 403
    resp = await cloud.client.post(ROLES, json={"role": {"name": "x"}}, headers=cloud.demo)
    assert resp.status_code == 403
    rid = await role_id(cloud, "admin")
    url = grant_url(cloud, cloud.seeded.demo_user_id, rid)
    assert (await cloud.client.put(url, headers=cloud.demo)).status_code == 403
    resp = await cloud.client.get("/identity/v3/role_assignments", headers=cloud.demo)
    assert resp.status_code == 403


async def test_assignment_shapes_new_tokens(cloud: Cloud) -> None:
    user = await create_user(cloud, "carol", "carol-pw")
    # No role yet: cannot scope to demo.
    assert (await login(cloud, "carol", "carol-pw", project_scope("demo"))).status_code == 401
    reader = await role_id(cloud, "reader")
    url = grant_url(cloud, user["id"], reader)
    assert (await cloud.client.head(url, headers=cloud.admin)).status_code == 404
    assert (await cloud.client.put(url, headers=cloud.admin)).status_code == 204
    assert (await cloud.client.put(url, headers=cloud.admin)).status_code == 204  # idempotent
    assert (await cloud.client.head(url, headers=cloud.admin)).status_code == 204

    resp = await login(cloud, "carol", "carol-pw", project_scope("demo"))
    assert resp.status_code == 201
    assert [r["name"] for r in resp.json()["token"]["roles"]] == ["reader"]
    carol = resp.headers["X-Subject-Token"]

    member = await role_id(cloud, "member")
    await cloud.client.put(grant_url(cloud, user["id"], member), headers=cloud.admin)
    resp = await login(cloud, "carol", "carol-pw", project_scope("demo"))
    assert {r["name"] for r in resp.json()["token"]["roles"]} == {"member", "reader"}

    roles_url = f"/identity/v3/projects/{cloud.seeded.demo_project_id}/users/{user['id']}/roles"
    listed = await cloud.client.get(roles_url, headers=cloud.admin)
    assert {r["name"] for r in listed.json()["roles"]} == {"member", "reader"}

    # Taking a role away revokes the tokens that carried it.
    assert (await cloud.client.delete(url, headers=cloud.admin)).status_code == 204
    resp = await cloud.client.get("/identity/v3/auth/projects", headers={"X-Auth-Token": carol})
    assert resp.status_code == 401
    assert (await cloud.client.delete(url, headers=cloud.admin)).status_code == 404


async def test_grant_unknown_ids_is_404(cloud: Cloud) -> None:
    rid = await role_id(cloud, "member")
    for url in (
        grant_url(cloud, "ghost-user", rid),
        grant_url(cloud, cloud.seeded.demo_user_id, "ghost-role"),
        f"/identity/v3/projects/ghost/users/{cloud.seeded.demo_user_id}/roles/{rid}",
    ):
        resp = await cloud.client.put(url, headers=cloud.admin)
        assert resp.status_code == 404, url
        assert resp.json()["error"]["code"] == 404


async def test_role_assignments_list_and_filters(cloud: Cloud) -> None:
    url = "/identity/v3/role_assignments"
    everything = (await cloud.client.get(url, headers=cloud.admin)).json()["role_assignments"]
    assert len(everything) == 2
    params = {"user.id": cloud.seeded.demo_user_id, "include_names": "True"}
    resp = await cloud.client.get(url, params=params, headers=cloud.admin)
    (one,) = resp.json()["role_assignments"]
    assert one["role"]["name"] == "member"
    assert one["user"] == {
        "id": cloud.seeded.demo_user_id,
        "name": "demo",
        "domain": {"id": "default", "name": "Default"},
    }
    assert one["scope"]["project"]["name"] == "demo"
    assert one["scope"]["project"]["domain"] == {"id": "default", "name": "Default"}
    assert one["links"]["assignment"].endswith(
        f"/projects/{cloud.seeded.demo_project_id}/users/{cloud.seeded.demo_user_id}"
        f"/roles/{one['role']['id']}"
    )
    admin_rid = await role_id(cloud, "admin")
    by_role = await cloud.client.get(url, params={"role.id": admin_rid}, headers=cloud.admin)
    (adm,) = by_role.json()["role_assignments"]
    assert adm["user"] == {"id": cloud.seeded.admin_user_id}
    by_scope = await cloud.client.get(
        url, params={"scope.project.id": cloud.seeded.admin_project_id}, headers=cloud.admin
    )
    assert [a["user"]["id"] for a in by_scope.json()["role_assignments"]] == [
        cloud.seeded.admin_user_id
    ]


async def test_deleting_role_revokes_tokens_carrying_it(cloud: Cloud) -> None:
    demo = await token(cloud, "demo", "demo-pw", "demo")
    member = await role_id(cloud, "member")
    assert (await cloud.client.delete(f"{ROLES}/{member}", headers=cloud.admin)).status_code == 204
    resp = await cloud.client.get("/identity/v3/auth/projects", headers={"X-Auth-Token": demo})
    assert resp.status_code == 401
