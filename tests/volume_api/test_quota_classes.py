"""Block Storage quota classes: the ``default`` class sets every project's defaults (its
own overrides still win), and bad keys or values change nothing."""

from __future__ import annotations

from tempest.lib.api_schema.response.volume import quota_classes as schema

from tests.conftest import Cloud
from tests.volume_api.helpers import V3, conform, vh

URL = f"{V3}/os-quota-class-sets/default"


async def test_the_default_class_is_every_projects_default(cloud: Cloud) -> None:
    admin, demo = vh(cloud.admin_token), vh(cloud.demo_token)
    project = cloud.seeded.demo_project_id
    shown = conform(schema.show_quota_classes, await cloud.client.get(URL, headers=admin))
    assert shown["quota_class_set"]["id"] == "default"
    assert shown["quota_class_set"]["volumes"] == cloud.state.settings.quota_volumes
    assert shown["quota_class_set"]["volumes___DEFAULT__"] == -1
    body = {"quota_class_set": {"volumes": 3, "gigabytes___DEFAULT__": 7}}
    updated = conform(
        schema.update_quota_classes, await cloud.client.put(URL, json=body, headers=admin)
    )["quota_class_set"]
    assert updated["volumes"] == 3 and updated["gigabytes___DEFAULT__"] == 7
    defaults = (
        await cloud.client.get(f"{V3}/os-quota-sets/{project}/defaults", headers=demo)
    ).json()["quota_set"]
    assert defaults["volumes"] == 3 and defaults["gigabytes___DEFAULT__"] == 7
    # A project's own override beats the class.
    await cloud.client.put(
        f"{V3}/os-quota-sets/{project}", json={"quota_set": {"volumes": 5}}, headers=admin
    )
    own = (await cloud.client.get(f"{V3}/os-quota-sets/{project}", headers=demo)).json()
    assert own["quota_set"]["volumes"] == 5 and own["quota_set"]["gigabytes___DEFAULT__"] == 7
    other = (
        await cloud.client.get(f"{V3}/os-quota-sets/{cloud.seeded.admin_project_id}", headers=admin)
    ).json()
    assert other["quota_set"]["volumes"] == 3
    # Other classes are kept but set nobody's defaults.
    gold = {"quota_class_set": {"volumes": 99}}
    assert (
        await cloud.client.put(f"{V3}/os-quota-class-sets/gold", json=gold, headers=admin)
    ).status_code == 200
    assert (await cloud.client.get(URL, headers=admin)).json()["quota_class_set"]["volumes"] == 3


async def test_bad_input_and_members_change_nothing(cloud: Cloud) -> None:
    admin = vh(cloud.admin_token)
    for body, word in (
        ({"quota_class_set": {"bogus": 1}}, "bogus"),
        ({"quota_class_set": {"volumes": "many"}}, "volumes"),
        ({"quota_class_set": {"volumes": -2}}, "volumes"),
        ({"quota_class_set": {"volumes": 1, "snapshots": "x"}}, "snapshots"),
        ({"quota_set": {"volumes": 1}}, "quota_class_set"),
    ):
        r = await cloud.client.put(URL, json=body, headers=admin)
        assert r.status_code == 400, body
        assert word in r.json()["badRequest"]["message"]
    shown = (await cloud.client.get(URL, headers=admin)).json()["quota_class_set"]
    assert shown["volumes"] == cloud.state.settings.quota_volumes
    member = vh(cloud.demo_token)
    assert (await cloud.client.get(URL, headers=member)).status_code == 403
    put = await cloud.client.put(URL, json={"quota_class_set": {"volumes": 1}}, headers=member)
    assert put.status_code == 403
