from typing import Any

from tests.compute_api.helpers import V
from tests.conftest import Cloud

URL = f"{V}/os-server-groups"


def _g(**kw: Any) -> dict[str, Any]:
    return {"server_group": {"name": "web", **kw}}


async def test_legacy_and_264_formats(cloud: Cloud) -> None:
    r = await cloud.client.post(URL, json=_g(policies=["anti-affinity"]), headers=cloud.demo)
    assert r.status_code == 200, r.text
    group = r.json()["server_group"]
    assert group["policies"] == ["anti-affinity"] and group["metadata"] == {}
    assert group["members"] == [] and "policy" not in group and "project_id" not in group
    h = cloud.headers(cloud.demo_token, "2.64")
    r = await cloud.client.get(f"{URL}/{group['id']}", headers=h)
    shown = r.json()["server_group"]
    assert shown["policy"] == "anti-affinity" and shown["rules"] == {}
    assert "policies" not in shown and "metadata" not in shown
    assert shown["project_id"] == cloud.seeded.demo_project_id
    body = _g(policy="anti-affinity", rules={"max_server_per_host": "2", "failure_domain": "rack"})
    r = await cloud.client.post(URL, json=body, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["server_group"]["rules"] == {"max_server_per_host": 2, "failure_domain": "rack"}
    # The 2.64 body is refused at 2.1 and the other way round.
    r = await cloud.client.post(URL, json=_g(policy="affinity"), headers=cloud.demo)
    assert r.status_code == 400 and "policy" in r.text
    r = await cloud.client.post(URL, json=_g(policies=["affinity"]), headers=h)
    assert r.status_code == 400 and "policies" in r.text


async def test_rule_validation(cloud: Cloud) -> None:
    h = cloud.headers(cloud.demo_token, "2.64")
    cases = [
        (_g(policy="affinity", rules={"max_server_per_host": 2}), "max_server_per_host"),
        (_g(policy="anti-affinity", rules={"max_server_per_host": 0}), "max_server_per_host"),
        (_g(policy="anti-affinity", rules={"failure_domain": "planet"}), "failure_domain"),
        (_g(policy="anti-affinity", rules={"color": "red"}), "color"),
        (_g(policy="spread"), "policy"),
        (_g(policy="affinity", name=" x"), "name"),
    ]
    for body, field in cases:
        r = await cloud.client.post(URL, json=body, headers=h)
        assert r.status_code == 400, body
        assert field in r.json()["badRequest"]["message"], (field, r.text)
    for policy in ("affinity", "soft-affinity", "soft-anti-affinity"):
        body = _g(policy=policy, rules={"failure_domain": "az"})
        assert (await cloud.client.post(URL, json=body, headers=h)).status_code == 200
    r = await cloud.client.get(URL, headers=h)
    assert len(r.json()["server_groups"]) == 3


async def test_isolation_all_projects_and_delete(cloud: Cloud) -> None:
    r = await cloud.client.post(URL, json=_g(policies=["affinity"]), headers=cloud.demo)
    gid = r.json()["server_group"]["id"]
    r = await cloud.client.get(URL, headers=cloud.admin)
    assert r.json()["server_groups"] == []
    r = await cloud.client.get(f"{URL}?all_projects=True", headers=cloud.admin)
    assert [g["id"] for g in r.json()["server_groups"]] == [gid]
    r = await cloud.client.post(URL, json=_g(policies=["affinity"]), headers=cloud.admin)
    other = r.json()["server_group"]["id"]
    r = await cloud.client.get(f"{URL}/{other}", headers=cloud.demo)
    assert r.status_code == 404
    r = await cloud.client.delete(f"{URL}/{other}", headers=cloud.demo)
    assert r.status_code == 404
    r = await cloud.client.get(f"{URL}?all_projects=True", headers=cloud.demo)
    assert [g["id"] for g in r.json()["server_groups"]] == [gid]
    r = await cloud.client.delete(f"{URL}/{gid}", headers=cloud.demo)
    assert r.status_code == 204
    r = await cloud.client.get(f"{URL}/{gid}", headers=cloud.demo)
    assert r.status_code == 404


async def test_server_group_quota(cloud: Cloud) -> None:
    project = cloud.seeded.demo_project_id
    await cloud.client.put(
        f"{V}/os-quota-sets/{project}",
        json={"quota_set": {"server_groups": 1}},
        headers=cloud.admin,
    )
    r = await cloud.client.post(URL, json=_g(policies=["affinity"]), headers=cloud.demo)
    assert r.status_code == 200
    r = await cloud.client.post(URL, json=_g(policies=["affinity"]), headers=cloud.demo)
    assert r.status_code == 403
    assert "Quota exceeded for server_groups" in r.json()["forbidden"]["message"]
