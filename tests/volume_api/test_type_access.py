"""Private volume types (``os-volume-type-access``): only admins and the projects given
a private type see it and make volumes of it; the access list and its actions answer
as Cinder's do, for good and bad input."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from tempest.lib.api_schema.response.volume import volume_types as schema

from stockyard.db.models import Project, VolumeTypeProject
from tests.conftest import Cloud
from tests.volume_api.helpers import V3, conform, create_volume, vh


async def _demo_project(cloud: Cloud) -> str:
    async with cloud.state.db.session() as s:
        return str(await s.scalar(select(Project.id).where(Project.name == "demo")))


async def _private_type(cloud: Cloud, name: str = "gold") -> dict[str, Any]:
    body = {"volume_type": {"name": name, "os-volume-type-access:is_public": False}}
    r = await cloud.client.post(f"{V3}/types", json=body, headers=vh(cloud.admin_token))
    assert r.status_code == 200, r.text
    created: dict[str, Any] = r.json()["volume_type"]
    assert created["is_public"] is False
    return created


async def _act(cloud: Cloud, type_id: str, body: Any, token: str | None = None) -> Any:
    return await cloud.client.post(
        f"{V3}/types/{type_id}/action", json=body, headers=vh(token or cloud.admin_token)
    )


async def _names(cloud: Cloud, token: str, query: str = "") -> list[str]:
    r = await cloud.client.get(f"{V3}/types{query}", headers=vh(token))
    return [t["name"] for t in r.json()["volume_types"]]


async def test_a_private_type_is_its_given_projects_only(cloud: Cloud) -> None:
    gold = await _private_type(cloud)
    demo = cloud.demo_token
    assert "gold" not in await _names(cloud, demo)
    assert (await cloud.client.get(f"{V3}/types/{gold['id']}", headers=vh(demo))).status_code == 404
    refused = await cloud.client.post(
        f"{V3}/volumes", json={"volume": {"size": 1, "volume_type": gold["id"]}}, headers=vh(demo)
    )
    assert refused.status_code == 404, refused.text
    # An admin sees it when asking for private types or for all ("None"), as in Cinder.
    assert "gold" in await _names(cloud, cloud.admin_token, "?is_public=false")
    assert "gold" in await _names(cloud, cloud.admin_token, "?is_public=None")
    project = await _demo_project(cloud)
    added = await _act(cloud, gold["id"], {"addProjectAccess": {"project": project}})
    assert added.status_code == 202, added.text
    assert "gold" in await _names(cloud, demo)
    volume = await create_volume(cloud, demo, volume_type=gold["id"])
    assert volume["volume_type"] == "gold"
    listed = conform(
        schema.list_type_access,
        await cloud.client.get(
            f"{V3}/types/{gold['id']}/os-volume-type-access", headers=vh(cloud.admin_token)
        ),
    )
    assert listed == {"volume_type_access": [{"volume_type_id": gold["id"], "project_id": project}]}
    removed = await _act(cloud, gold["id"], {"removeProjectAccess": {"project": project}})
    assert removed.status_code == 202
    assert "gold" not in await _names(cloud, demo)


async def test_access_actions_refuse_what_cinder_refuses(cloud: Cloud) -> None:
    gold = await _private_type(cloud)
    project = await _demo_project(cloud)
    add = {"addProjectAccess": {"project": project}}
    assert (await _act(cloud, gold["id"], add)).status_code == 202
    again = await _act(cloud, gold["id"], add)
    assert again.status_code == 409
    assert "already exists" in again.json()["conflictingRequest"]["message"]
    gone = await _act(cloud, gold["id"], {"removeProjectAccess": {"project": "nobody"}})
    assert gone.status_code == 404
    assert "not found" in gone.json()["itemNotFound"]["message"]
    for bad, word in (
        ({"addProjectAccess": {}}, "'project'"),
        ({"addProjectAccess": {"project": 7}}, "project"),
        ({"addProjectAccess": {"project": ""}}, "project"),
        ({"grantEverything": {"project": project}}, "addProjectAccess"),
        ([], "addProjectAccess"),
    ):
        r = await _act(cloud, gold["id"], bad)
        assert r.status_code == 400, bad
        assert word in r.json()["badRequest"]["message"], (bad, r.text)
    public = (await cloud.client.get(f"{V3}/types/default", headers=vh(cloud.admin_token))).json()
    on_public = await _act(cloud, public["volume_type"]["id"], add)
    assert on_public.status_code == 400
    assert "public volume type" in on_public.json()["badRequest"]["message"]
    listing = await cloud.client.get(
        f"{V3}/types/{public['volume_type']['id']}/os-volume-type-access",
        headers=vh(cloud.admin_token),
    )
    assert listing.status_code == 404
    # Members neither list nor change access, not even of a type they were given.
    member = cloud.demo_token
    assert (await _act(cloud, gold["id"], add, member)).status_code == 403
    listing = await cloud.client.get(
        f"{V3}/types/{gold['id']}/os-volume-type-access", headers=vh(member)
    )
    assert listing.status_code == 403
    assert (await _act(cloud, "no-such-type", add)).status_code == 404


async def test_deleting_a_type_takes_its_access_along(cloud: Cloud) -> None:
    gold = await _private_type(cloud)
    project = await _demo_project(cloud)
    assert (
        await _act(cloud, gold["id"], {"addProjectAccess": {"project": project}})
    ).status_code == 202
    r = await cloud.client.delete(f"{V3}/types/{gold['id']}", headers=vh(cloud.admin_token))
    assert r.status_code == 202
    async with cloud.state.db.session() as s:
        assert list(await s.scalars(select(VolumeTypeProject))) == []
