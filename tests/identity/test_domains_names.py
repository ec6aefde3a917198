"""Domain update and delete (a domain must be disabled first), and Keystone's 64-char
limit on domain, project and group names."""

from __future__ import annotations

import pytest

from tests.conftest import Cloud
from tests.identity.helpers import create_user, login, role_id

V3 = "/identity/v3"


async def test_domain_update_and_delete(cloud: Cloud) -> None:
    created = await cloud.client.post(
        f"{V3}/domains", json={"domain": {"name": "Acme"}}, headers=cloud.admin
    )
    assert created.status_code == 201
    did = created.json()["domain"]["id"]
    url = f"{V3}/domains/{did}"
    patched = await cloud.client.patch(
        url, json={"domain": {"description": "Acme Inc", "name": "Acme2"}}, headers=cloud.admin
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["domain"]["name"] == "Acme2"
    assert patched.json()["domain"]["description"] == "Acme Inc"
    by_name = await cloud.client.get(f"{V3}/domains", params={"name": "Acme2"}, headers=cloud.admin)
    assert [d["id"] for d in by_name.json()["domains"]] == [did]
    dup = await cloud.client.patch(url, json={"domain": {"name": "Default"}}, headers=cloud.admin)
    assert dup.status_code == 409
    null = await cloud.client.patch(url, json={"domain": {"enabled": None}}, headers=cloud.admin)
    assert null.status_code == 400

    # A project and a user in it go with it.
    project = await cloud.client.post(
        f"{V3}/projects", json={"project": {"name": "p", "domain_id": did}}, headers=cloud.admin
    )
    user = await cloud.client.post(
        f"{V3}/users",
        json={"user": {"name": "u", "domain_id": did, "password": "u-pw"}},
        headers=cloud.admin,
    )
    member = await role_id(cloud, "member")
    pid, uid = project.json()["project"]["id"], user.json()["user"]["id"]
    grant = f"{V3}/projects/{pid}/users/{uid}/roles/{member}"
    assert (await cloud.client.put(grant, headers=cloud.admin)).status_code == 204
    resp = await cloud.client.post(
        f"{V3}/auth/tokens",
        json={
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {"user": {"id": uid, "password": "u-pw"}},
                },
                "scope": {"project": {"id": pid}},
            }
        },
    )
    assert resp.status_code == 201, resp.text
    tok = {"X-Auth-Token": resp.headers["X-Subject-Token"]}

    enabled = await cloud.client.delete(url, headers=cloud.admin)
    assert enabled.status_code == 403
    assert "disable" in enabled.json()["error"]["message"]
    disabled = await cloud.client.patch(
        url, json={"domain": {"enabled": False}}, headers=cloud.admin
    )
    assert disabled.status_code == 200 and disabled.json()["domain"]["enabled"] is False
    # Disabling revokes the tokens of its users.
    assert (await cloud.client.get(f"{V3}/auth/projects", headers=tok)).status_code == 401
    assert (await cloud.client.delete(url, headers=cloud.admin)).status_code == 204
    assert (await cloud.client.get(url, headers=cloud.admin)).status_code == 404
    assert (await cloud.client.get(f"{V3}/projects/{pid}", headers=cloud.admin)).status_code == 404
    assert (await cloud.client.get(f"{V3}/users/{uid}", headers=cloud.admin)).status_code == 404
    assert (await cloud.client.delete(url, headers=cloud.admin)).status_code == 404


async def test_default_domain_stays(cloud: Cloud) -> None:
    url = f"{V3}/domains/default"
    resp = await cloud.client.patch(url, json={"domain": {"enabled": False}}, headers=cloud.admin)
    assert resp.status_code == 403
    assert (await cloud.client.get(url, headers=cloud.admin)).json()["domain"]["enabled"] is True
    assert (await login(cloud, "admin", "admin-pw")).status_code == 201


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("domains", {"domain": {"name": "d" * 65}}, "domain.name"),
        ("projects", {"project": {"name": "p" * 65}}, "project.name"),
        ("groups", {"group": {"name": "g" * 65}}, "group.name"),
        ("users", {"user": {"name": "u" * 256}}, "user.name"),
        ("roles", {"role": {"name": "r" * 256}}, "role.name"),
    ],
)
async def test_long_names_are_400(cloud: Cloud, path: str, body: object, field: str) -> None:
    resp = await cloud.client.post(f"{V3}/{path}", json=body, headers=cloud.admin)
    assert resp.status_code == 400, resp.text
    assert field in resp.json()["error"]["message"]
    listed = await cloud.client.get(f"{V3}/{path}", headers=cloud.admin)
    assert all(len(r["name"]) <= 64 for r in listed.json()[path])


async def test_64_char_names_are_fine(cloud: Cloud) -> None:
    for path, key in (("domains", "domain"), ("projects", "project"), ("groups", "group")):
        resp = await cloud.client.post(
            f"{V3}/{path}", json={key: {"name": "n" * 64}}, headers=cloud.admin
        )
        assert resp.status_code == 201, (path, resp.text)


async def test_project_rename_too_long_is_400(cloud: Cloud) -> None:
    url = f"{V3}/projects/{cloud.seeded.demo_project_id}"
    resp = await cloud.client.patch(url, json={"project": {"name": "x" * 65}}, headers=cloud.admin)
    assert resp.status_code == 400 and "project.name" in resp.json()["error"]["message"]


async def test_user_list_filters(cloud: Cloud) -> None:
    await create_user(cloud, "hank", "hank-pw")
    users = f"{V3}/users"
    by_name = await cloud.client.get(users, params={"name": "hank"}, headers=cloud.admin)
    assert [u["name"] for u in by_name.json()["users"]] == ["hank"]
    off = await cloud.client.get(users, params={"enabled": "false"}, headers=cloud.admin)
    assert off.json()["users"] == []
    other = await cloud.client.get(users, params={"domain_id": "ghost"}, headers=cloud.admin)
    assert other.json()["users"] == []
