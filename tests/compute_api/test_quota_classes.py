"""``os-quota-class-sets``: Nova's key sets per microversion; ``default`` applies to projects."""

from __future__ import annotations

from tests.compute_api.helpers import V
from tests.conftest import Cloud

LEGACY = {
    "cores", "fixed_ips", "floating_ips", "injected_file_content_bytes",
    "injected_file_path_bytes", "injected_files", "instances", "key_pairs",
    "metadata_items", "ram", "security_group_rules", "security_groups",
}  # fmt: skip
V250 = (LEGACY - {"fixed_ips", "floating_ips", "security_group_rules", "security_groups"}) | {
    "server_groups",
    "server_group_members",
}
V257 = V250 - {"injected_file_content_bytes", "injected_file_path_bytes", "injected_files"}


async def test_show_shapes(cloud: Cloud) -> None:
    for mv, keys in ((None, LEGACY), ("2.50", V250), ("2.57", V257), ("2.79", V257)):
        h = cloud.headers(cloud.admin_token, mv)
        r = await cloud.client.get(f"{V}/os-quota-class-sets/default", headers=h)
        assert r.status_code == 200, r.text
        assert set(r.json()) == {"quota_class_set"}
        body = r.json()["quota_class_set"]
        assert set(body) == keys | {"id"}, mv
        assert body["id"] == "default" and body["instances"] == 10


async def test_update_default_applies_to_projects(cloud: Cloud) -> None:
    h = cloud.headers(cloud.admin_token, "2.57")
    url = f"{V}/os-quota-class-sets/default"
    r = await cloud.client.put(
        url, json={"quota_class_set": {"instances": 7, "cores": "9"}}, headers=h
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"quota_class_set"} and set(body["quota_class_set"]) == V257
    assert body["quota_class_set"]["instances"] == 7 and body["quota_class_set"]["cores"] == 9
    r = await cloud.client.get(url, headers=h)
    assert r.json()["quota_class_set"]["instances"] == 7
    # A project without overrides now gets the class's limits, and its defaults show them.
    project = cloud.seeded.demo_project_id
    r = await cloud.client.get(f"{V}/os-quota-sets/{project}", headers=cloud.demo)
    assert r.json()["quota_set"]["instances"] == 7
    r = await cloud.client.get(f"{V}/os-quota-sets/{project}/defaults", headers=cloud.demo)
    assert r.json()["quota_set"]["cores"] == 9
    r = await cloud.client.get(f"{V}/limits", headers=cloud.demo)
    assert r.json()["limits"]["absolute"]["maxTotalInstances"] == 7
    # The project's own override still wins.
    r = await cloud.client.put(
        f"{V}/os-quota-sets/{project}", json={"quota_set": {"instances": 3}}, headers=cloud.admin
    )
    r = await cloud.client.get(f"{V}/os-quota-sets/{project}", headers=cloud.demo)
    assert r.json()["quota_set"]["instances"] == 3
    # Another class is stored but applies to nobody.
    r = await cloud.client.put(
        f"{V}/os-quota-class-sets/gold", json={"quota_class_set": {"ram": 1}}, headers=h
    )
    assert r.status_code == 200
    r = await cloud.client.get(f"{V}/os-quota-class-sets/gold", headers=h)
    assert r.json()["quota_class_set"]["ram"] == 1 and r.json()["quota_class_set"]["id"] == "gold"
    r = await cloud.client.get(f"{V}/os-quota-sets/{project}", headers=cloud.demo)
    assert r.json()["quota_set"]["ram"] != 1


async def test_errors_and_admin_only(cloud: Cloud) -> None:
    url = f"{V}/os-quota-class-sets/default"
    r = await cloud.client.get(url, headers=cloud.demo)
    assert r.status_code == 403 and r.json()["forbidden"]["code"] == 403
    r = await cloud.client.put(url, json={"quota_class_set": {"instances": 1}}, headers=cloud.demo)
    assert r.status_code == 403
    h = cloud.headers(cloud.admin_token, "2.50")
    for bad in (
        {"quota_class_set": {"instances": -2}},
        {"quota_class_set": {"cores": "x"}},
        {"quota_class_set": {"floating_ips": 1}},  # gone in 2.50
        {"quota_class_set": {"instances": True}},
        {"quota_set": {"instances": 1}},
        [],
    ):
        r = await cloud.client.put(url, json=bad, headers=h)
        assert r.status_code == 400, bad
        assert set(r.json()["badRequest"]) == {"message", "code"}
    # Before 2.50 server_groups is not a class resource.
    r = await cloud.client.put(
        url, json={"quota_class_set": {"server_groups": 1}}, headers=cloud.admin
    )
    assert r.status_code == 400
