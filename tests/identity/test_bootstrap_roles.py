"""The seed creates Keystone's default roles, also on a cloud seeded before they existed."""

from __future__ import annotations

from sqlalchemy import delete, func, select

from stockyard.db.models import Role
from stockyard.identity.bootstrap import bootstrap
from tests.conftest import Cloud

DEFAULT_ROLES = {"admin", "manager", "member", "reader", "service"}


async def _role_names(cloud: Cloud) -> list[str]:
    resp = await cloud.client.get("/identity/v3/roles", headers=cloud.admin)
    assert resp.status_code == 200, resp.text
    return [r["name"] for r in resp.json()["roles"]]


async def test_default_roles_are_listed(cloud: Cloud) -> None:
    assert set(await _role_names(cloud)) == DEFAULT_ROLES


async def test_reseeding_adds_missing_roles_once(cloud: Cloud) -> None:
    # A cloud from before the manager and service roles: a restart adds them.
    async with cloud.state.db.session() as session:
        await session.execute(delete(Role).where(Role.name.in_(("manager", "service"))))
    async with cloud.state.db.session() as session:
        again = await bootstrap(session, "admin-pw", "demo-pw")
    async with cloud.state.db.session() as session:
        await bootstrap(session, "admin-pw", "demo-pw")
        count = await session.scalar(select(func.count()).select_from(Role))
    assert again.admin_project_id == cloud.seeded.admin_project_id
    assert count == len(DEFAULT_ROLES)
    assert sorted(await _role_names(cloud)) == sorted(DEFAULT_ROLES)


async def test_service_role_can_be_granted_and_scoped(cloud: Cloud) -> None:
    roles = {
        r["name"]: r["id"]
        for r in (await cloud.client.get("/identity/v3/roles", headers=cloud.admin)).json()["roles"]
    }
    url = (
        f"/identity/v3/projects/{cloud.seeded.demo_project_id}"
        f"/users/{cloud.seeded.demo_user_id}/roles/{roles['service']}"
    )
    assert (await cloud.client.put(url, headers=cloud.admin)).status_code == 204
    token = await cloud.token_for(cloud.seeded.demo_user_id, cloud.seeded.demo_project_id)
    resp = await cloud.client.get(
        "/identity/v3/auth/tokens", headers={"X-Auth-Token": token, "X-Subject-Token": token}
    )
    assert resp.status_code == 200
    assert "service" in {r["name"] for r in resp.json()["token"]["roles"]}
