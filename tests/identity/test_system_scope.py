"""System-scope role assignments and system-scoped tokens (Keystone's
``/v3/system/{users,groups}/{id}/roles/{role}`` and ``"scope": {"system": {"all": true}}``)."""

from __future__ import annotations

from typing import Any

from tests.conftest import Cloud
from tests.identity.helpers import TOKENS, create_user, login, role_id

V3 = "/identity/v3"
SYSTEM = {"system": {"all": True}}


async def test_system_user_grants(cloud: Cloud) -> None:
    user = await create_user(cloud, "sam", "sam-pw")
    reader = await role_id(cloud, "reader")
    url = f"{V3}/system/users/{user['id']}/roles/{reader}"
    assert (await cloud.client.head(url, headers=cloud.admin)).status_code == 404
    assert (await cloud.client.get(url, headers=cloud.admin)).status_code == 404
    assert (await cloud.client.put(url, headers=cloud.admin)).status_code == 204
    assert (await cloud.client.put(url, headers=cloud.admin)).status_code == 204
    assert (await cloud.client.head(url, headers=cloud.admin)).status_code == 204
    assert (await cloud.client.get(url, headers=cloud.admin)).status_code == 204
    listed = await cloud.client.get(f"{V3}/system/users/{user['id']}/roles", headers=cloud.admin)
    assert listed.status_code == 200
    assert [r["name"] for r in listed.json()["roles"]] == ["reader"]
    assert listed.json()["links"]["self"].endswith(f"/v3/system/users/{user['id']}/roles")
    ghost = await cloud.client.put(f"{V3}/system/users/ghost/roles/{reader}", headers=cloud.admin)
    assert ghost.status_code == 404 and "ghost" in ghost.json()["error"]["message"]
    bad_role = f"{V3}/system/users/{user['id']}/roles/ghost"
    assert (await cloud.client.put(bad_role, headers=cloud.admin)).status_code == 404
    assert (await cloud.client.delete(url, headers=cloud.admin)).status_code == 204
    assert (await cloud.client.delete(url, headers=cloud.admin)).status_code == 404


async def test_system_scoped_token(cloud: Cloud) -> None:
    user = await create_user(cloud, "sysadm", "sysadm-pw")
    # No system role: 401.
    assert (await login(cloud, "sysadm", "sysadm-pw", SYSTEM)).status_code == 401
    admin = await role_id(cloud, "admin")
    grant = f"{V3}/system/users/{user['id']}/roles/{admin}"
    assert (await cloud.client.put(grant, headers=cloud.admin)).status_code == 204
    resp = await login(cloud, "sysadm", "sysadm-pw", SYSTEM)
    assert resp.status_code == 201, resp.text
    body: dict[str, Any] = resp.json()["token"]
    assert body["system"] == {"all": True}
    assert "project" not in body and "domain" not in body
    assert {r["name"] for r in body["roles"]} == {"admin", "manager", "member", "reader"}
    assert body["catalog"]
    tok = resp.headers["X-Subject-Token"]
    headers = {"X-Auth-Token": tok}

    # Validation shows the same scope.
    shown = await cloud.client.get(TOKENS, headers={**headers, "X-Subject-Token": tok})
    assert shown.status_code == 200 and shown.json()["token"]["system"] == {"all": True}
    # Admin checks honour the system role.
    assert (await cloud.client.get(f"{V3}/users", headers=headers)).status_code == 200
    assert (await cloud.client.get(f"{V3}/role_assignments", headers=headers)).status_code == 200

    # Removing the grant revokes the token.
    assert (await cloud.client.delete(grant, headers=cloud.admin)).status_code == 204
    assert (await cloud.client.get(f"{V3}/users", headers=headers)).status_code == 401


async def test_system_reader_is_not_admin(cloud: Cloud) -> None:
    user = await create_user(cloud, "ro", "ro-pw")
    reader = await role_id(cloud, "reader")
    await cloud.client.put(f"{V3}/system/users/{user['id']}/roles/{reader}", headers=cloud.admin)
    tok = (await login(cloud, "ro", "ro-pw", SYSTEM)).headers["X-Subject-Token"]
    resp = await cloud.client.get(f"{V3}/users", headers={"X-Auth-Token": tok})
    assert resp.status_code == 403


async def test_system_group_grant_and_bad_scope(cloud: Cloud) -> None:
    user = await create_user(cloud, "gina", "gina-pw")
    group = (
        await cloud.client.post(
            f"{V3}/groups", json={"group": {"name": "sys"}}, headers=cloud.admin
        )
    ).json()["group"]
    await cloud.client.put(f"{V3}/groups/{group['id']}/users/{user['id']}", headers=cloud.admin)
    admin = await role_id(cloud, "admin")
    url = f"{V3}/system/groups/{group['id']}/roles/{admin}"
    assert (await cloud.client.put(url, headers=cloud.admin)).status_code == 204
    assert (await cloud.client.head(url, headers=cloud.admin)).status_code == 204
    listed = await cloud.client.get(f"{V3}/system/groups/{group['id']}/roles", headers=cloud.admin)
    assert [r["name"] for r in listed.json()["roles"]] == ["admin"]
    resp = await login(cloud, "gina", "gina-pw", SYSTEM)
    assert resp.status_code == 201 and resp.json()["token"]["system"] == {"all": True}

    bad = await login(cloud, "gina", "gina-pw", {"system": {"all": False}})
    assert bad.status_code == 400 and "auth.scope.system" in bad.json()["error"]["message"]
    both = await login(
        cloud, "gina", "gina-pw", {"system": {"all": True}, "domain": {"id": "default"}}
    )
    assert both.status_code == 400

    gina = resp.headers["X-Subject-Token"]
    assert (await cloud.client.delete(url, headers=cloud.admin)).status_code == 204
    assert (
        await cloud.client.get(f"{V3}/users", headers={"X-Auth-Token": gina})
    ).status_code == 401
