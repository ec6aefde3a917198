"""Two deletes of one project, user, domain, group, role or group membership at once: one
204, the other Keystone's 404, as a delete of a missing one answers."""

from __future__ import annotations

from typing import Any

import pytest

from stockyard.db.models import Domain, Group, GroupMember, Project, Role, RoleAssignment, User
from stockyard.db.models.identity import ApplicationCredential
from tests.concurrent_deletes import deleted_once
from tests.conftest import Cloud
from tests.identity.helpers import create_user

V3 = "/identity/v3"
BACKENDS = pytest.mark.backend("sqlite", "postgresql", "mariadb")


async def _create(cloud: Cloud, kind: str, **body: Any) -> str:
    r = await cloud.client.post(f"{V3}/{kind}s", json={kind: body}, headers=cloud.admin)
    assert r.status_code == 201, r.text
    ident: str = r.json()[kind]["id"]
    return ident


async def _once(cloud: Cloud, url: str, model: Any, *where: Any) -> str:
    """Delete ``url`` twice at once; the loser's message."""
    body = await deleted_once(cloud, f"{V3}/{url}", model, *where, headers=cloud.admin)
    assert body["error"]["code"] == 404 and body["error"]["title"] == "Not Found", body
    message: str = body["error"]["message"]
    return message


@BACKENDS
async def test_a_project_deleted_twice_at_once_is_deleted_once(cloud: Cloud) -> None:
    project_id = await _create(cloud, "project", name="p", domain_id="default")
    message = await _once(cloud, f"projects/{project_id}", Project, Project.id == project_id)
    assert message == f"Could not find project: {project_id}."


@BACKENDS
async def test_a_user_deleted_twice_at_once_is_deleted_once(cloud: Cloud) -> None:
    user_id = (await create_user(cloud, "u", "pw-u"))["id"]
    message = await _once(cloud, f"users/{user_id}", User, User.id == user_id)
    assert message == f"Could not find user: {user_id}."


@BACKENDS
async def test_a_domain_deleted_twice_at_once_is_deleted_once(cloud: Cloud) -> None:
    domain_id = await _create(cloud, "domain", name="d")
    project_id = await _create(cloud, "project", name="p", domain_id=domain_id)
    await _create(cloud, "user", name="u", domain_id=domain_id)
    await _create(cloud, "group", name="g", domain_id=domain_id)
    r = await cloud.client.patch(
        f"{V3}/domains/{domain_id}", json={"domain": {"enabled": False}}, headers=cloud.admin
    )
    assert r.status_code == 200, r.text
    message = await _once(cloud, f"domains/{domain_id}", Domain, Domain.id == domain_id)
    assert message == f"Could not find domain: {domain_id}."
    r = await cloud.client.get(f"{V3}/projects/{project_id}", headers=cloud.admin)
    assert r.status_code == 404


@BACKENDS
async def test_a_group_deleted_twice_at_once_is_deleted_once(cloud: Cloud) -> None:
    group_id = await _create(cloud, "group", name="g", domain_id="default")
    message = await _once(cloud, f"groups/{group_id}", Group, Group.id == group_id)
    assert message == f"Could not find group: {group_id}."


@BACKENDS
async def test_a_member_removed_twice_at_once_is_removed_once(cloud: Cloud) -> None:
    group_id = await _create(cloud, "group", name="g", domain_id="default")
    user_id = (await create_user(cloud, "u", "pw-u"))["id"]
    url = f"groups/{group_id}/users/{user_id}"
    assert (await cloud.client.put(f"{V3}/{url}", headers=cloud.admin)).status_code == 204
    where = (GroupMember.group_id == group_id, GroupMember.user_id == user_id)
    message = await _once(cloud, url, GroupMember, *where)
    assert message == f"Could not find user {user_id} in group {group_id}."


@BACKENDS
async def test_a_role_deleted_twice_at_once_is_deleted_once(cloud: Cloud) -> None:
    role_id = await _create(cloud, "role", name="observer")
    message = await _once(cloud, f"roles/{role_id}", Role, Role.id == role_id)
    assert message == f"Could not find role: {role_id}."


@BACKENDS
async def test_a_grant_revoked_twice_at_once_is_revoked_once(cloud: Cloud) -> None:
    project_id = await _create(cloud, "project", name="p", domain_id="default")
    user_id = (await create_user(cloud, "u", "pw-u"))["id"]
    role_id = await _create(cloud, "role", name="observer")
    url = f"projects/{project_id}/users/{user_id}/roles/{role_id}"
    assert (await cloud.client.put(f"{V3}/{url}", headers=cloud.admin)).status_code == 204
    where = (RoleAssignment.user_id == user_id, RoleAssignment.role_id == role_id)
    message = await _once(cloud, url, RoleAssignment, *where)
    assert message == f"Could not find role assignment of role {role_id} for user {user_id}."


@BACKENDS
async def test_an_app_cred_deleted_twice_at_once_is_deleted_once(cloud: Cloud) -> None:
    user_id = cloud.seeded.demo_user_id
    url = f"{V3}/users/{user_id}/application_credentials"
    r = await cloud.client.post(
        url, json={"application_credential": {"name": "a"}}, headers=cloud.demo
    )
    assert r.status_code == 201, r.text
    cred_id = r.json()["application_credential"]["id"]
    where = ApplicationCredential.id == cred_id
    body = await deleted_once(cloud, f"{url}/{cred_id}", ApplicationCredential, where)
    assert body["error"]["message"] == f"Could not find Application Credential: {cred_id}."
