"""``GET /v3/role_assignments`` with groups and the system scope: ``group.id``,
``scope.system``, ``effective`` and ``include_names``, as Keystone renders them."""

from __future__ import annotations

from typing import Any

from tests.conftest import Cloud
from tests.identity.helpers import create_user, role_id

V3 = "/identity/v3"
RA = f"{V3}/role_assignments"


async def _setup(cloud: Cloud) -> dict[str, str]:
    user = await create_user(cloud, "ivy", "ivy-pw")
    group = (
        await cloud.client.post(f"{V3}/groups", json={"group": {"name": "g1"}}, headers=cloud.admin)
    ).json()["group"]
    await cloud.client.put(f"{V3}/groups/{group['id']}/users/{user['id']}", headers=cloud.admin)
    member, reader = await role_id(cloud, "member"), await role_id(cloud, "reader")
    project = cloud.seeded.demo_project_id
    for url in (
        f"{V3}/projects/{project}/groups/{group['id']}/roles/{member}",
        f"{V3}/system/users/{user['id']}/roles/{reader}",
        f"{V3}/system/groups/{group['id']}/roles/{member}",
    ):
        assert (await cloud.client.put(url, headers=cloud.admin)).status_code == 204
    return {"user": user["id"], "group": group["id"], "member": member, "reader": reader}


async def _list(cloud: Cloud, **params: str) -> list[dict[str, Any]]:
    resp = await cloud.client.get(RA, params=params, headers=cloud.admin)
    assert resp.status_code == 200, resp.text
    rows: list[dict[str, Any]] = resp.json()["role_assignments"]
    return rows


async def test_group_and_system_rows(cloud: Cloud) -> None:
    ids = await _setup(cloud)
    project = cloud.seeded.demo_project_id
    by_group = await _list(cloud, **{"group.id": ids["group"]})
    assert len(by_group) == 2
    on_project = next(r for r in by_group if "project" in r["scope"])
    assert on_project == {
        "group": {"id": ids["group"]},
        "role": {"id": ids["member"]},
        "scope": {"project": {"id": project}},
        "links": {
            "assignment": on_project["links"]["assignment"],
        },
    }
    assert on_project["links"]["assignment"].endswith(
        f"/v3/projects/{project}/groups/{ids['group']}/roles/{ids['member']}"
    )
    system_rows = await _list(cloud, **{"scope.system": "all"})
    assert {("user" in r, r["role"]["id"]) for r in system_rows} == {
        (True, ids["reader"]),
        (False, ids["member"]),
    }
    assert all(r["scope"] == {"system": {"all": True}} for r in system_rows)
    user_sys = next(r for r in system_rows if "user" in r)
    assert user_sys["links"]["assignment"].endswith(
        f"/v3/system/users/{ids['user']}/roles/{ids['reader']}"
    )
    # Project filter leaves the system rows out; role filter narrows.
    on_demo = await _list(cloud, **{"scope.project.id": project})
    assert all(r["scope"] == {"project": {"id": project}} for r in on_demo)
    assert len(await _list(cloud, **{"role.id": ids["reader"]})) == 1
    # Not effective: the user's direct rows only (one system grant).
    direct = await _list(cloud, **{"user.id": ids["user"]})
    assert [r["scope"] for r in direct] == [{"system": {"all": True}}]
    bad = await cloud.client.get(RA, params={"scope.system": "some"}, headers=cloud.admin)
    assert bad.status_code == 400 and "scope.system" in bad.json()["error"]["message"]


async def test_effective_expands_groups(cloud: Cloud) -> None:
    ids = await _setup(cloud)
    project = cloud.seeded.demo_project_id
    rows = await _list(cloud, effective="", **{"user.id": ids["user"]})
    assert all("group" not in r and r["user"]["id"] == ids["user"] for r in rows)
    scopes = sorted((next(iter(r["scope"])), r["role"]["id"]) for r in rows)
    assert scopes == sorted(
        [("project", ids["member"]), ("system", ids["reader"]), ("system", ids["member"])]
    )
    via = next(r for r in rows if "project" in r["scope"])
    assert via["links"]["membership"].endswith(f"/v3/groups/{ids['group']}/users/{ids['user']}")
    assert via["links"]["assignment"].endswith(
        f"/v3/projects/{project}/groups/{ids['group']}/roles/{ids['member']}"
    )
    everyone = await _list(cloud, effective="true")
    assert not any("group" in r for r in everyone)
    both = await cloud.client.get(
        RA, params={"effective": "", "group.id": ids["group"]}, headers=cloud.admin
    )
    assert both.status_code == 400


async def test_include_names(cloud: Cloud) -> None:
    ids = await _setup(cloud)
    rows = await _list(cloud, include_names="1", **{"group.id": ids["group"]})
    on_project = next(r for r in rows if "project" in r["scope"])
    assert on_project["group"] == {
        "id": ids["group"],
        "name": "g1",
        "domain": {"id": "default", "name": "Default"},
    }
    assert on_project["role"] == {"id": ids["member"], "name": "member"}
    assert on_project["scope"]["project"]["name"] == "demo"
    assert on_project["scope"]["project"]["domain"] == {"id": "default", "name": "Default"}
    users = await _list(cloud, include_names="true", **{"user.id": cloud.seeded.demo_user_id})
    assert users[0]["user"]["name"] == "demo"
    inherited = await _list(cloud, **{"scope.OS-INHERIT:inherited_to": "projects"})
    assert inherited == []
