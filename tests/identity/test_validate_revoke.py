"""GET/HEAD/DELETE /v3/auth/tokens, revocation and expiry seen from other URLs."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from stockyard.db.base import utcnow
from stockyard.db.models import Project, Token, User
from stockyard.identity.tokens import digest
from tests.conftest import Cloud
from tests.identity.helpers import TOKENS, token

PROJECTS = "/identity/v3/auth/projects"


async def test_validate_own_token(cloud: Cloud) -> None:
    headers = {**cloud.demo, "X-Subject-Token": cloud.demo_token}
    resp = await cloud.client.get(TOKENS, headers=headers)
    assert resp.status_code == 200, resp.text
    assert resp.headers["X-Subject-Token"] == cloud.demo_token
    tok = resp.json()["token"]
    assert tok["user"]["id"] == cloud.seeded.demo_user_id
    assert tok["project"]["id"] == cloud.seeded.demo_project_id
    assert tok["catalog"]
    head = await cloud.client.head(TOKENS, headers=headers)
    assert head.status_code == 200 and head.content == b""


async def test_admin_validates_any_token_member_does_not(cloud: Cloud) -> None:
    resp = await cloud.client.get(
        TOKENS, headers={**cloud.admin, "X-Subject-Token": cloud.demo_token}
    )
    assert resp.status_code == 200
    resp = await cloud.client.get(
        TOKENS, headers={**cloud.demo, "X-Subject-Token": cloud.admin_token}
    )
    assert resp.status_code == 403


async def test_validate_needs_caller_token(cloud: Cloud) -> None:
    resp = await cloud.client.get(TOKENS, headers={"X-Subject-Token": cloud.demo_token})
    assert resp.status_code == 401


async def test_unknown_subject_is_404(cloud: Cloud) -> None:
    resp = await cloud.client.get(TOKENS, headers={**cloud.admin, "X-Subject-Token": "nope"})
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == 404


async def test_revoked_token_is_refused_everywhere(cloud: Cloud) -> None:
    demo = await token(cloud, "demo", "demo-pw", "demo")
    headers = {"X-Auth-Token": demo}
    assert (await cloud.client.get(PROJECTS, headers=headers)).status_code == 200
    resp = await cloud.client.delete(TOKENS, headers={**headers, "X-Subject-Token": demo})
    assert resp.status_code == 204
    assert (await cloud.client.get(PROJECTS, headers=headers)).status_code == 401
    # Other services refuse it too.
    for path in ("/compute/v2.1/flavors", "/image/v2/images"):
        assert (await cloud.client.get(path, headers=headers)).status_code == 401
    check = await cloud.client.head(TOKENS, headers={**cloud.admin, "X-Subject-Token": demo})
    assert check.status_code == 404
    # The other demo token is untouched.
    assert (await cloud.client.get(PROJECTS, headers=cloud.demo)).status_code == 200


async def test_already_expired_token_is_refused(cloud: Cloud) -> None:
    async with cloud.state.db.session() as session:
        user = await session.get(User, cloud.seeded.demo_user_id)
        project = await session.get(Project, cloud.seeded.demo_project_id)
        assert user is not None and project is not None
        issued = await cloud.state.tokens.issue(
            session, user, project, ["password"], expires_at=utcnow() - timedelta(seconds=1)
        )
    resp = await cloud.client.get(PROJECTS, headers={"X-Auth-Token": issued.token})
    assert resp.status_code == 401


async def test_token_expiring_in_the_database_is_refused(cloud: Cloud) -> None:
    demo = await token(cloud, "demo", "demo-pw", "demo")
    async with cloud.state.db.session() as session:
        await session.execute(
            update(Token)
            .where(Token.digest == digest(demo))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    resp = await cloud.client.get(PROJECTS, headers={"X-Auth-Token": demo})
    assert resp.status_code == 401
    check = await cloud.client.get(TOKENS, headers={**cloud.admin, "X-Subject-Token": demo})
    assert check.status_code == 404


async def test_auth_projects_and_catalog(cloud: Cloud) -> None:
    resp = await cloud.client.get(PROJECTS, headers=cloud.demo)
    assert [p["id"] for p in resp.json()["projects"]] == [cloud.seeded.demo_project_id]
    resp = await cloud.client.get("/identity/v3/auth/catalog", headers=cloud.demo)
    assert resp.status_code == 200
    assert {s["name"] for s in resp.json()["catalog"]} == {
        "keystone",
        "nova",
        "glance",
        "neutron",
        "cinder",
        "cinderv3",
        "stockyard-stock",
    }
    unscoped = await token(cloud, "demo", "demo-pw")
    resp = await cloud.client.get("/identity/v3/auth/catalog", headers={"X-Auth-Token": unscoped})
    assert resp.status_code == 403
