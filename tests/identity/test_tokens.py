"""Token issue (password and token methods), validation and the 401s."""

from __future__ import annotations

import re

from tests.conftest import Cloud
from tests.identity.helpers import TOKENS, login, password_body, project_scope

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


async def test_issue_by_name_project_scoped(cloud: Cloud) -> None:
    resp = await login(cloud, "demo", "demo-pw", project_scope("demo"))
    assert resp.status_code == 201, resp.text
    assert resp.headers["X-Subject-Token"]
    tok = resp.json()["token"]
    assert tok["methods"] == ["password"]
    assert tok["user"]["id"] == cloud.seeded.demo_user_id
    assert tok["user"]["name"] == "demo"
    assert tok["user"]["domain"] == {"id": "default", "name": "Default"}
    assert tok["project"]["id"] == cloud.seeded.demo_project_id
    assert tok["project"]["domain"] == {"id": "default", "name": "Default"}
    assert tok["is_domain"] is False
    assert {r["name"] for r in tok["roles"]} == {"member", "reader"}
    assert all(len(r["id"]) == 32 for r in tok["roles"])
    assert ISO.match(tok["expires_at"]) and ISO.match(tok["issued_at"])
    assert len(tok["audit_ids"]) == 1
    assert {s["type"] for s in tok["catalog"]} == {
        "identity",
        "compute",
        "image",
        "network",
        "block-storage",
        "volumev3",
        "baremetal-stock",
    }
    assert "demo-pw" not in resp.text and "argon2" not in resp.text


async def test_issue_by_user_id_and_project_id(cloud: Cloud) -> None:
    body = password_body(
        "admin-pw",
        user_id=cloud.seeded.admin_user_id,
        scope={"project": {"id": cloud.seeded.admin_project_id}},
    )
    resp = await cloud.client.post(TOKENS, json=body)
    assert resp.status_code == 201, resp.text
    tok = resp.json()["token"]
    assert tok["project"]["name"] == "admin"
    assert {r["name"] for r in tok["roles"]} == {"admin", "manager", "member", "reader"}


async def test_explicitly_unscoped_has_no_project_roles_or_catalog(cloud: Cloud) -> None:
    resp = await login(cloud, "demo", "demo-pw", "unscoped")
    assert resp.status_code == 201, resp.text
    tok = resp.json()["token"]
    assert "project" not in tok and "roles" not in tok and "catalog" not in tok


async def test_no_scope_falls_back_to_default_project(cloud: Cloud) -> None:
    resp = await login(cloud, "demo", "demo-pw")
    assert resp.status_code == 201, resp.text
    assert resp.json()["token"]["project"]["id"] == cloud.seeded.demo_project_id


async def test_nocatalog(cloud: Cloud) -> None:
    body = password_body("demo-pw", name="demo", scope=project_scope("demo"))
    resp = await cloud.client.post(TOKENS + "?nocatalog", json=body)
    assert resp.status_code == 201
    assert "catalog" not in resp.json()["token"]


async def test_wrong_password_and_unknown_user_look_the_same(cloud: Cloud) -> None:
    wrong = await login(cloud, "demo", "nope")
    unknown = await login(cloud, "nobody", "nope")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.json()["error"]["code"] == 401
    assert "X-Subject-Token" not in wrong.headers


async def test_no_role_on_project_is_401(cloud: Cloud) -> None:
    resp = await login(cloud, "demo", "demo-pw", project_scope("admin"))
    assert resp.status_code == 401


async def test_unknown_project_is_401(cloud: Cloud) -> None:
    resp = await login(cloud, "demo", "demo-pw", project_scope("ghost"))
    assert resp.status_code == 401


async def test_unsupported_method_is_401(cloud: Cloud) -> None:
    body = {"auth": {"identity": {"methods": ["totp"], "totp": {}}}}
    resp = await cloud.client.post(TOKENS, json=body)
    assert resp.status_code == 401


async def test_bad_bodies_name_the_field(cloud: Cloud) -> None:
    missing_identity = await cloud.client.post(TOKENS, json={"auth": {}})
    assert missing_identity.status_code == 400
    assert "auth.identity" in missing_identity.json()["error"]["message"]

    no_password = {"auth": {"identity": {"methods": ["password"], "password": {"user": {}}}}}
    resp = await cloud.client.post(TOKENS, json=no_password)
    assert resp.status_code == 400
    assert "auth.identity.password.user.password" in resp.json()["error"]["message"]

    no_domain = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"name": "demo", "password": "demo-pw"}},
            }
        }
    }
    resp = await cloud.client.post(TOKENS, json=no_domain)
    assert resp.status_code == 400
    assert "auth.identity.password.user.domain" in resp.json()["error"]["message"]

    both = password_body(
        "demo-pw", name="demo", scope={**project_scope("demo"), "domain": {"id": "default"}}
    )
    resp = await cloud.client.post(TOKENS, json=both)
    assert resp.status_code == 400


async def test_token_method_rescopes_and_keeps_expiry(cloud: Cloud) -> None:
    first = await login(cloud, "demo", "demo-pw", "unscoped")
    unscoped = first.headers["X-Subject-Token"]
    body = {
        "auth": {
            "identity": {"methods": ["token"], "token": {"id": unscoped}},
            "scope": {"project": {"id": cloud.seeded.demo_project_id}},
        }
    }
    resp = await cloud.client.post(TOKENS, json=body)
    assert resp.status_code == 201, resp.text
    tok = resp.json()["token"]
    assert tok["project"]["id"] == cloud.seeded.demo_project_id
    assert tok["methods"] == ["token", "password"]
    assert tok["expires_at"] <= first.json()["token"]["expires_at"]


async def test_token_method_with_dead_token_is_401(cloud: Cloud) -> None:
    body = {"auth": {"identity": {"methods": ["token"], "token": {"id": "bogus"}}}}
    resp = await cloud.client.post(TOKENS, json=body)
    assert resp.status_code == 401


async def test_domain_scope_needs_a_domain_role(cloud: Cloud) -> None:
    scope = {"domain": {"id": "default"}}
    resp = await login(cloud, "admin", "admin-pw", scope)
    assert resp.status_code == 401
    admin_role = (
        await cloud.client.get("/identity/v3/roles?name=admin", headers=cloud.admin)
    ).json()["roles"][0]["id"]
    url = f"/identity/v3/domains/default/users/{cloud.seeded.admin_user_id}/roles/{admin_role}"
    assert (await cloud.client.put(url, headers=cloud.admin)).status_code == 204
    resp = await login(cloud, "admin", "admin-pw", scope)
    assert resp.status_code == 201, resp.text
    tok = resp.json()["token"]
    assert tok["domain"] == {"id": "default", "name": "Default"}
    assert "project" not in tok
    assert "admin" in {r["name"] for r in tok["roles"]}
    assert "catalog" in tok


async def test_disabled_user_cannot_log_in(cloud: Cloud) -> None:
    url = f"/identity/v3/users/{cloud.seeded.demo_user_id}"
    resp = await cloud.client.patch(url, json={"user": {"enabled": False}}, headers=cloud.admin)
    assert resp.status_code == 200, resp.text
    assert (await login(cloud, "demo", "demo-pw")).status_code == 401
    # ... and the tokens it already had stop working.
    resp = await cloud.client.get("/identity/v3/auth/projects", headers=cloud.demo)
    assert resp.status_code == 401
