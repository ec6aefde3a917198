"""Application credentials (Keystone's /v3/users/{id}/application_credentials and the
``application_credential`` auth method), as a user and an application see them."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import Cloud
from tests.identity.helpers import TOKENS, token

V3 = "/identity/v3"


async def _me(cloud: Cloud, headers: dict[str, str]) -> str:
    resp = await cloud.client.get(
        TOKENS, headers={**headers, "X-Subject-Token": headers["X-Auth-Token"]}
    )
    user_id: str = resp.json()["token"]["user"]["id"]
    return user_id


def _cred_auth(cred_id: str, secret: str, **extra: Any) -> dict[str, Any]:
    method = {"id": cred_id, "secret": secret}
    auth: dict[str, Any] = {
        "identity": {"methods": ["application_credential"], "application_credential": method}
    }
    auth.update(extra)
    return {"auth": auth}


async def _create(
    cloud: Cloud, headers: dict[str, str], user_id: str, **spec: Any
) -> httpx.Response:
    body = {"application_credential": {"name": "ci", **spec}}
    return await cloud.client.post(
        f"{V3}/users/{user_id}/application_credentials", json=body, headers=headers
    )


async def test_create_authenticate_list_and_delete(cloud: Cloud) -> None:
    demo = await _me(cloud, cloud.demo)
    made = await _create(cloud, cloud.demo, demo, description="deploys")
    assert made.status_code == 201, made.text
    cred = made.json()["application_credential"]
    secret = cred.pop("secret")
    assert len(secret) >= 32
    assert cred["unrestricted"] is False and cred["expires_at"] is None
    assert sorted(r["name"] for r in cred["roles"]) == ["member", "reader"]
    assert cred["links"]["self"].endswith(f"/users/{demo}/application_credentials/{cred['id']}")

    login = await cloud.client.post(TOKENS, json=_cred_auth(cred["id"], secret))
    assert login.status_code == 201, login.text
    body = login.json()["token"]
    assert body["methods"] == ["application_credential"]
    assert body["project"]["id"] == cred["project_id"]
    assert body["application_credential"] == {"id": cred["id"], "name": "ci", "restricted": True}
    assert sorted(r["name"] for r in body["roles"]) == ["member", "reader"]
    app_headers = {"X-Auth-Token": login.headers["X-Subject-Token"]}
    servers = await cloud.client.get("/compute/v2.1/servers", headers=app_headers)
    assert servers.status_code == 200

    # By name and user, as clouds.yaml's application_credential_name does.
    by_name = {
        "name": "ci",
        "secret": secret,
        "user": {"name": "demo", "domain": {"name": "Default"}},
    }
    body_by_name = {
        "auth": {
            "identity": {"methods": ["application_credential"], "application_credential": by_name}
        }
    }
    assert (await cloud.client.post(TOKENS, json=body_by_name)).status_code == 201

    listed = await cloud.client.get(
        f"{V3}/users/{demo}/application_credentials", headers=cloud.demo
    )
    assert [c["id"] for c in listed.json()["application_credentials"]] == [cred["id"]]
    assert "secret" not in listed.json()["application_credentials"][0]
    shown = await cloud.client.get(
        f"{V3}/users/{demo}/application_credentials/{cred['id']}", headers=cloud.demo
    )
    assert shown.json()["application_credential"] == cred

    gone = await cloud.client.delete(
        f"{V3}/users/{demo}/application_credentials/{cred['id']}", headers=cloud.demo
    )
    assert gone.status_code == 204
    # The token it issued is revoked, and the secret no longer logs in.
    after = await cloud.client.get("/compute/v2.1/servers", headers=app_headers)
    assert after.status_code == 401
    again = await cloud.client.post(TOKENS, json=_cred_auth(cred["id"], secret))
    assert again.status_code == 401


async def test_wrong_secret_expired_and_scope_are_refused(cloud: Cloud) -> None:
    demo = await _me(cloud, cloud.demo)
    cred = (await _create(cloud, cloud.demo, demo, secret="s3cret-enough")).json()
    cred_id = cred["application_credential"]["id"]
    assert cred["application_credential"]["secret"] == "s3cret-enough"
    bad = await cloud.client.post(TOKENS, json=_cred_auth(cred_id, "nope"))
    assert bad.status_code == 401
    assert bad.json()["error"]["message"] == "The request you have made requires authentication."
    scoped = await cloud.client.post(
        TOKENS,
        json=_cred_auth(cred_id, "s3cret-enough", scope={"project": {"id": "whatever"}}),
    )
    assert scoped.status_code == 401
    past = await _create(cloud, cloud.demo, demo, name="old", expires_at="2001-01-01T00:00:00")
    assert past.status_code == 400 and "expires_at" in past.json()["error"]["message"]
    dup = await _create(cloud, cloud.demo, demo, secret="x")
    assert dup.status_code == 409


async def test_delegation_limits(cloud: Cloud) -> None:
    demo = await _me(cloud, cloud.demo)
    admin = await _me(cloud, cloud.admin)
    # Only for oneself; an admin role the user does not hold cannot be delegated.
    other = await _create(cloud, cloud.admin, demo, name="theirs")
    assert other.status_code == 403
    not_held = await _create(cloud, cloud.demo, demo, name="up", roles=[{"name": "admin"}])
    assert not_held.status_code == 403
    unscoped = {"X-Auth-Token": await token(cloud, "admin", "admin-pw")}
    no_project = await _create(cloud, unscoped, admin, name="x")
    assert no_project.status_code == 403
    rules = await _create(cloud, cloud.demo, demo, name="r", access_rules=[{"path": "/x"}])
    assert rules.status_code == 400 and "access_rules" in rules.json()["error"]["message"]

    # Reader only: the token from it cannot write.
    reader = await _create(cloud, cloud.demo, demo, name="ro", roles=[{"name": "reader"}])
    assert reader.status_code == 201, reader.text
    ro = reader.json()["application_credential"]
    login = await cloud.client.post(TOKENS, json=_cred_auth(ro["id"], ro["secret"]))
    assert [r["name"] for r in login.json()["token"]["roles"]] == ["reader"]
    ro_headers = {"X-Auth-Token": login.headers["X-Subject-Token"]}
    kp = await cloud.client.post(
        "/compute/v2.1/os-keypairs", json={"keypair": {"name": "k"}}, headers=ro_headers
    )
    assert kp.status_code == 403

    # A restricted credential's token cannot mint more credentials (nor delete them).
    more = await _create(cloud, ro_headers, demo, name="more")
    assert more.status_code == 403
    assert "application_credential" in more.json()["error"]["message"]
    # Another user's credentials are out of sight for a member.
    peek = await cloud.client.get(f"{V3}/users/{admin}/application_credentials", headers=cloud.demo)
    assert peek.status_code == 403
