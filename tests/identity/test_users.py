"""Users: admin CRUD, self-service password change revoking tokens, no secrets shown."""

from __future__ import annotations

from tests.conftest import Cloud
from tests.identity.helpers import create_user, login, token

USERS = "/identity/v3/users"
PROJECTS = "/identity/v3/auth/projects"


async def test_user_crud_never_shows_password(cloud: Cloud) -> None:
    user = await create_user(cloud, "alice", "alice-pw-1", cloud.seeded.demo_project_id)
    assert user["domain_id"] == "default"
    assert user["default_project_id"] == cloud.seeded.demo_project_id
    assert user["enabled"] is True
    assert "password" not in user and "password_hash" not in user
    url = f"{USERS}/{user['id']}"

    shown = await cloud.client.get(url, headers=cloud.admin)
    assert shown.status_code == 200
    assert "alice-pw-1" not in shown.text and "argon2" not in shown.text
    listed = await cloud.client.get(USERS, params={"name": "alice"}, headers=cloud.admin)
    assert [u["id"] for u in listed.json()["users"]] == [user["id"]]
    everyone = await cloud.client.get(USERS, headers=cloud.admin)
    assert "argon2" not in everyone.text

    resp = await cloud.client.patch(
        url, json={"user": {"email": "a@example.org"}}, headers=cloud.admin
    )
    assert resp.status_code == 200
    assert resp.json()["user"]["email"] == "a@example.org"

    assert (await cloud.client.delete(url, headers=cloud.admin)).status_code == 204
    assert (await cloud.client.get(url, headers=cloud.admin)).status_code == 404


async def test_duplicate_user_is_409(cloud: Cloud) -> None:
    resp = await cloud.client.post(
        USERS, json={"user": {"name": "demo", "password": "x"}}, headers=cloud.admin
    )
    assert resp.status_code == 409


async def test_bad_user_bodies_name_the_field(cloud: Cloud) -> None:
    resp = await cloud.client.post(USERS, json={"user": {"password": "x"}}, headers=cloud.admin)
    assert resp.status_code == 400
    assert "user.name" in resp.json()["error"]["message"]
    resp = await cloud.client.post(
        USERS, json={"user": {"name": "bob", "enabled": "nope"}}, headers=cloud.admin
    )
    assert resp.status_code == 400
    assert "user.enabled" in resp.json()["error"]["message"]
    resp = await cloud.client.post(
        USERS,
        json={"user": {"name": "bob", "default_project_id": "ghost"}},
        headers=cloud.admin,
    )
    assert resp.status_code == 400
    assert "default_project_id" in resp.json()["error"]["message"]
    resp = await cloud.client.patch(
        f"{USERS}/{cloud.seeded.demo_user_id}", json={"user": {"name": None}}, headers=cloud.admin
    )
    assert resp.status_code == 400
    assert "name" in resp.json()["error"]["message"]
    listed = await cloud.client.get(USERS, params={"name": "bob"}, headers=cloud.admin)
    assert listed.json()["users"] == []


async def test_members_cannot_manage_users(cloud: Cloud) -> None:
    assert (await cloud.client.get(USERS, headers=cloud.demo)).status_code == 403
    resp = await cloud.client.post(USERS, json={"user": {"name": "x"}}, headers=cloud.demo)
    assert resp.status_code == 403
    other = f"{USERS}/{cloud.seeded.admin_user_id}"
    assert (await cloud.client.get(other, headers=cloud.demo)).status_code == 403
    assert (await cloud.client.delete(other, headers=cloud.demo)).status_code == 403
    me = f"{USERS}/{cloud.seeded.demo_user_id}"
    assert (await cloud.client.get(me, headers=cloud.demo)).status_code == 200
    resp = await cloud.client.patch(me, json={"user": {"enabled": True}}, headers=cloud.demo)
    assert resp.status_code == 403
    assert (await cloud.client.get(USERS)).status_code == 401


async def test_password_change_revokes_tokens(cloud: Cloud) -> None:
    url = f"{USERS}/{cloud.seeded.demo_user_id}/password"
    wrong = {"user": {"original_password": "bad", "password": "new-pw"}}
    resp = await cloud.client.post(url, json=wrong, headers=cloud.demo)
    assert resp.status_code == 401
    assert (await cloud.client.get(PROJECTS, headers=cloud.demo)).status_code == 200

    body = {"user": {"original_password": "demo-pw", "password": "new-pw"}}
    resp = await cloud.client.post(url, json=body, headers=cloud.demo)
    assert resp.status_code == 204
    assert (await cloud.client.get(PROJECTS, headers=cloud.demo)).status_code == 401
    assert (await login(cloud, "demo", "demo-pw")).status_code == 401
    fresh = await token(cloud, "demo", "new-pw", "demo")
    assert (await cloud.client.get(PROJECTS, headers={"X-Auth-Token": fresh})).status_code == 200


async def test_password_change_body_names_field(cloud: Cloud) -> None:
    url = f"{USERS}/{cloud.seeded.demo_user_id}/password"
    resp = await cloud.client.post(url, json={"user": {"password": "x"}}, headers=cloud.demo)
    assert resp.status_code == 400
    assert "user.original_password" in resp.json()["error"]["message"]


async def test_admin_password_reset_revokes_tokens(cloud: Cloud) -> None:
    url = f"{USERS}/{cloud.seeded.demo_user_id}"
    resp = await cloud.client.patch(url, json={"user": {"password": "reset"}}, headers=cloud.admin)
    assert resp.status_code == 200
    assert (await cloud.client.get(PROJECTS, headers=cloud.demo)).status_code == 401
    assert (await login(cloud, "demo", "reset")).status_code == 201


async def test_deleted_user_tokens_are_refused(cloud: Cloud) -> None:
    url = f"{USERS}/{cloud.seeded.demo_user_id}"
    assert (await cloud.client.delete(url, headers=cloud.admin)).status_code == 204
    assert (await cloud.client.get(PROJECTS, headers=cloud.demo)).status_code == 401


async def test_user_projects(cloud: Cloud) -> None:
    url = f"{USERS}/{cloud.seeded.demo_user_id}/projects"
    resp = await cloud.client.get(url, headers=cloud.demo)
    assert [p["name"] for p in resp.json()["projects"]] == ["demo"]
    assert (await cloud.client.get(url, headers=cloud.admin)).status_code == 200
    other = f"{USERS}/{cloud.seeded.admin_user_id}/projects"
    assert (await cloud.client.get(other, headers=cloud.demo)).status_code == 403
