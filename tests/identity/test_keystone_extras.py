"""Project tags, role update, a member reading its domain, application credentials'
roles and expiry as Keystone renders them."""

from __future__ import annotations

from tests.conftest import Cloud
from tests.identity.helpers import create_user, role_id, token

V3 = "/identity/v3"


async def test_project_tags(cloud: Cloud) -> None:
    pid = cloud.seeded.demo_project_id
    url = f"{V3}/projects/{pid}/tags"
    put = await cloud.client.put(url, json={"tags": ["a", "b", "a"]}, headers=cloud.admin)
    assert put.status_code == 200 and put.json() == {"tags": ["a", "b"]}
    assert (await cloud.client.put(f"{url}/c", headers=cloud.admin)).status_code == 201
    listed = await cloud.client.get(url, headers=cloud.demo)
    assert listed.json() == {"tags": ["a", "b", "c"]}
    assert (await cloud.client.get(f"{url}/c", headers=cloud.demo)).status_code == 204
    assert (await cloud.client.get(f"{url}/zz", headers=cloud.demo)).status_code == 404
    project = await cloud.client.get(f"{V3}/projects/{pid}", headers=cloud.admin)
    assert project.json()["project"]["tags"] == ["a", "b", "c"]
    by_tag = await cloud.client.get(f"{V3}/projects", params={"tags": "c"}, headers=cloud.admin)
    assert [p["id"] for p in by_tag.json()["projects"]] == [pid]
    assert (await cloud.client.put(f"{url}/c", headers=cloud.demo)).status_code == 403
    bad = await cloud.client.put(url, json={"tags": ["x,y"]}, headers=cloud.admin)
    assert bad.status_code == 400 and "tags" in bad.json()["error"]["message"]
    too_many = await cloud.client.put(
        url, json={"tags": [f"t{i}" for i in range(81)]}, headers=cloud.admin
    )
    assert too_many.status_code == 400
    assert (await cloud.client.delete(f"{url}/a", headers=cloud.admin)).status_code == 204
    assert (await cloud.client.delete(f"{url}/a", headers=cloud.admin)).status_code == 404
    assert (await cloud.client.delete(url, headers=cloud.admin)).status_code == 204
    assert (await cloud.client.get(url, headers=cloud.admin)).json() == {"tags": []}


async def test_role_update_and_seeded_roles_are_immutable(cloud: Cloud) -> None:
    made = await cloud.client.post(
        f"{V3}/roles", json={"role": {"name": "auditor"}}, headers=cloud.admin
    )
    rid = made.json()["role"]["id"]
    patched = await cloud.client.patch(
        f"{V3}/roles/{rid}",
        json={"role": {"name": "inspector", "description": "reads"}},
        headers=cloud.admin,
    )
    assert patched.status_code == 200
    assert (patched.json()["role"]["name"], patched.json()["role"]["description"]) == (
        "inspector",
        "reads",
    )
    member = await role_id(cloud, "member")
    clash = await cloud.client.patch(
        f"{V3}/roles/{rid}", json={"role": {"name": "member"}}, headers=cloud.admin
    )
    assert clash.status_code == 409
    frozen = await cloud.client.patch(
        f"{V3}/roles/{member}", json={"role": {"name": "members"}}, headers=cloud.admin
    )
    assert frozen.status_code == 403
    described = await cloud.client.patch(
        f"{V3}/roles/{member}", json={"role": {"description": "Members"}}, headers=cloud.admin
    )
    assert described.status_code == 200
    nobody = await cloud.client.patch(
        f"{V3}/roles/{rid}", json={"role": {"name": "x"}}, headers=cloud.demo
    )
    assert nobody.status_code == 403


async def test_member_reads_its_projects_domain_only(cloud: Cloud) -> None:
    mine = await cloud.client.get(f"{V3}/domains/default", headers=cloud.demo)
    assert mine.status_code == 200 and mine.json()["domain"]["id"] == "default"
    other = await cloud.client.post(
        f"{V3}/domains", json={"domain": {"name": "elsewhere"}}, headers=cloud.admin
    )
    theirs = await cloud.client.get(
        f"{V3}/domains/{other.json()['domain']['id']}", headers=cloud.demo
    )
    assert theirs.status_code == 403


async def test_app_cred_roles_granted_after_the_token_and_naive_expiry(cloud: Cloud) -> None:
    pid = cloud.seeded.demo_project_id
    user = await create_user(cloud, "carol", "carol-pw-123")
    member = await role_id(cloud, "member")
    grant = f"{V3}/projects/{pid}/users/{user['id']}/roles/{member}"
    assert (await cloud.client.put(grant, headers=cloud.admin)).status_code == 204
    headers = {"X-Auth-Token": await token(cloud, "carol", "carol-pw-123", "demo")}
    extra = await cloud.client.post(
        f"{V3}/roles", json={"role": {"name": "deployer"}}, headers=cloud.admin
    )
    extra_grant = f"{V3}/projects/{pid}/users/{user['id']}/roles/{extra.json()['role']['id']}"
    assert (await cloud.client.put(extra_grant, headers=cloud.admin)).status_code == 204
    # The token predates the grant; Keystone checks the assignments, not the token.
    body = {
        "application_credential": {
            "name": "deploy",
            "roles": [{"name": "deployer"}],
            "expires_at": "2099-01-02T03:04:05.678900",
        }
    }
    made = await cloud.client.post(
        f"{V3}/users/{user['id']}/application_credentials", json=body, headers=headers
    )
    assert made.status_code == 201, made.text
    cred = made.json()["application_credential"]
    assert [r["name"] for r in cred["roles"]] == ["deployer"]
    assert cred["expires_at"] == "2099-01-02T03:04:05.678900"


async def test_app_cred_expiry_with_a_zone_is_stored_as_utc(cloud: Cloud) -> None:
    pid = cloud.seeded.demo_project_id
    user = await create_user(cloud, "dave", "dave-pw-123")
    member = await role_id(cloud, "member")
    grant = f"{V3}/projects/{pid}/users/{user['id']}/roles/{member}"
    assert (await cloud.client.put(grant, headers=cloud.admin)).status_code == 204
    headers = {"X-Auth-Token": await token(cloud, "dave", "dave-pw-123", "demo")}
    url = f"{V3}/users/{user['id']}/application_credentials"
    for name, given, shown in (
        ("z", "2099-01-01T00:00:00Z", "2099-01-01T00:00:00.000000"),
        ("plus5", "2099-01-01T05:00:00+05:00", "2099-01-01T00:00:00.000000"),
    ):
        body = {"application_credential": {"name": name, "expires_at": given}}
        made = await cloud.client.post(url, json=body, headers=headers)
        assert made.status_code == 201, made.text
        assert made.json()["application_credential"]["expires_at"] == shown
