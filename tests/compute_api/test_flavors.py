from typing import Any

from tests.compute_api.helpers import V
from tests.conftest import Cloud


def _body(**kw: Any) -> dict[str, Any]:
    flavor: dict[str, Any] = {"name": "m1.small", "ram": 2048, "vcpus": 1, "disk": 20}
    flavor.update(kw)
    return {"flavor": flavor}


async def test_create_show_list_delete(cloud: Cloud) -> None:
    r = await cloud.client.post(f"{V}/flavors", json=_body(id=None), headers=cloud.admin)
    assert r.status_code == 200, r.text
    flavor = r.json()["flavor"]
    assert len(flavor["id"]) == 36
    assert flavor["swap"] == ""
    assert flavor["os-flavor-access:is_public"] is True
    assert flavor["OS-FLV-DISABLED:disabled"] is False
    assert "description" not in flavor and "extra_specs" not in flavor
    r = await cloud.client.get(f"{V}/flavors/{flavor['id']}", headers=cloud.demo)
    assert r.json()["flavor"]["ram"] == 2048
    r = await cloud.client.get(f"{V}/flavors", headers=cloud.demo)
    assert [f["name"] for f in r.json()["flavors"]] == ["m1.small"]
    assert set(r.json()["flavors"][0]) == {"id", "name", "links"}
    r = await cloud.client.delete(f"{V}/flavors/{flavor['id']}", headers=cloud.admin)
    assert r.status_code == 202
    r = await cloud.client.get(f"{V}/flavors/{flavor['id']}", headers=cloud.demo)
    assert r.status_code == 404
    assert "itemNotFound" in r.json()


async def test_microversion_body_differences(cloud: Cloud) -> None:
    h61 = cloud.headers(cloud.admin_token, "2.61")
    body = _body(id="small", description="two gigs")
    r = await cloud.client.post(f"{V}/flavors", json=body, headers=h61)
    assert r.status_code == 200, r.text
    await cloud.client.post(
        f"{V}/flavors/small/os-extra_specs",
        json={"extra_specs": {"hw:cpu_policy": "dedicated"}},
        headers=cloud.admin,
    )
    r = await cloud.client.get(f"{V}/flavors/small", headers=h61)
    flavor = r.json()["flavor"]
    assert flavor["description"] == "two gigs"
    assert flavor["extra_specs"] == {"hw:cpu_policy": "dedicated"}
    assert flavor["swap"] == ""
    r = await cloud.client.get(
        f"{V}/flavors/small", headers=cloud.headers(cloud.demo_token, "2.75")
    )
    assert r.json()["flavor"]["swap"] == 0
    r = await cloud.client.get(f"{V}/flavors/small", headers=cloud.demo)
    assert "description" not in r.json()["flavor"]
    assert "extra_specs" not in r.json()["flavor"]
    # description needs 2.55
    r = await cloud.client.post(
        f"{V}/flavors", json=_body(name="x", description="d"), headers=cloud.admin
    )
    assert r.status_code == 400 and "description" in r.text


async def test_create_validation_names_the_field(cloud: Cloud) -> None:
    cases = [
        (_body(ram=0), "ram"),
        (_body(vcpus=0), "vcpus"),
        (_body(disk=-1), "disk"),
        (_body(ram=True), "ram"),
        (_body(vcpus="two"), "vcpus"),
        (_body(bogus=1), "bogus"),
        (_body(name=" lead"), "name"),
        (_body(id="bad/id"), "id"),
        (_body(**{"os-flavor-access:is_public": "maybe"}), "is_public"),
    ]
    for body, field in cases:
        r = await cloud.client.post(f"{V}/flavors", json=body, headers=cloud.admin)
        assert r.status_code == 400, (body, r.text)
        assert field in r.json()["badRequest"]["message"], (field, r.text)
    r = await cloud.client.get(f"{V}/flavors", headers=cloud.admin)
    assert r.json()["flavors"] == []


async def test_conflicts_and_admin_only(cloud: Cloud) -> None:
    r = await cloud.client.post(f"{V}/flavors", json=_body(id="1"), headers=cloud.demo)
    assert r.status_code == 403
    await cloud.client.post(f"{V}/flavors", json=_body(id="1"), headers=cloud.admin)
    r = await cloud.client.post(f"{V}/flavors", json=_body(id="2"), headers=cloud.admin)
    assert r.status_code == 409 and "m1.small" in r.text
    r = await cloud.client.post(f"{V}/flavors", json=_body(id="1", name="o"), headers=cloud.admin)
    assert r.status_code == 409
    r = await cloud.client.delete(f"{V}/flavors/1", headers=cloud.demo)
    assert r.status_code == 403
    r = await cloud.client.delete(f"{V}/flavors/nope", headers=cloud.admin)
    assert r.status_code == 404


async def test_filters_sort_and_pagination(cloud: Cloud) -> None:
    for i, ram in enumerate((512, 1024, 4096)):
        body = _body(id=str(i), name=f"f{i}", ram=ram, disk=i * 10)
        await cloud.client.post(f"{V}/flavors", json=body, headers=cloud.admin)
    r = await cloud.client.get(f"{V}/flavors/detail?minRam=1000", headers=cloud.demo)
    assert [f["id"] for f in r.json()["flavors"]] == ["1", "2"]
    r = await cloud.client.get(f"{V}/flavors?minDisk=20", headers=cloud.demo)
    assert [f["id"] for f in r.json()["flavors"]] == ["2"]
    r = await cloud.client.get(f"{V}/flavors?limit=2", headers=cloud.demo)
    assert [f["id"] for f in r.json()["flavors"]] == ["0", "1"]
    assert "marker=1" in r.json()["flavors_links"][0]["href"]
    r = await cloud.client.get(f"{V}/flavors?marker=1", headers=cloud.demo)
    assert [f["id"] for f in r.json()["flavors"]] == ["2"]
    r = await cloud.client.get(f"{V}/flavors?sort_key=memory_mb&sort_dir=desc", headers=cloud.demo)
    assert [f["id"] for f in r.json()["flavors"]] == ["2", "1", "0"]
    for bad in ("minRam=x", "marker=zzz", "sort_key=nope", "limit=-1"):
        r = await cloud.client.get(f"{V}/flavors?{bad}", headers=cloud.demo)
        assert r.status_code == 400, bad


async def test_private_flavor_access(cloud: Cloud) -> None:
    body = _body(id="p", **{"os-flavor-access:is_public": False})
    assert (await cloud.client.post(f"{V}/flavors", json=body, headers=cloud.admin)).is_success
    demo_project = cloud.seeded.demo_project_id
    r = await cloud.client.get(f"{V}/flavors/p", headers=cloud.demo)
    assert r.status_code == 404
    r = await cloud.client.get(f"{V}/flavors", headers=cloud.demo)
    assert r.json()["flavors"] == []
    add = {"addTenantAccess": {"tenant": demo_project}}
    r = await cloud.client.post(f"{V}/flavors/p/action", json=add, headers=cloud.demo)
    assert r.status_code == 403
    r = await cloud.client.post(f"{V}/flavors/p/action", json=add, headers=cloud.admin)
    assert r.json() == {"flavor_access": [{"flavor_id": "p", "tenant_id": demo_project}]}
    r = await cloud.client.post(f"{V}/flavors/p/action", json=add, headers=cloud.admin)
    assert r.status_code == 409
    r = await cloud.client.get(f"{V}/flavors/p", headers=cloud.demo)
    assert r.status_code == 200
    r = await cloud.client.get(f"{V}/flavors", headers=cloud.demo)
    assert [f["id"] for f in r.json()["flavors"]] == ["p"]
    r = await cloud.client.get(f"{V}/flavors/p/os-flavor-access", headers=cloud.admin)
    assert len(r.json()["flavor_access"]) == 1
    remove = {"removeTenantAccess": {"tenant": demo_project}}
    r = await cloud.client.post(f"{V}/flavors/p/action", json=remove, headers=cloud.admin)
    assert r.json() == {"flavor_access": []}
    r = await cloud.client.post(f"{V}/flavors/p/action", json=remove, headers=cloud.admin)
    assert r.status_code == 404
    r = await cloud.client.get(f"{V}/flavors/p", headers=cloud.demo)
    assert r.status_code == 404
    r = await cloud.client.get(f"{V}/flavors?is_public=none", headers=cloud.admin)
    assert [f["id"] for f in r.json()["flavors"]] == ["p"]
    await cloud.client.post(f"{V}/flavors", json=_body(id="pub", name="pub"), headers=cloud.admin)
    r = await cloud.client.post(f"{V}/flavors/pub/action", json=add, headers=cloud.admin)
    assert r.status_code == 409
    r = await cloud.client.get(f"{V}/flavors/pub/os-flavor-access", headers=cloud.admin)
    assert r.status_code == 404


async def test_extra_specs(cloud: Cloud) -> None:
    await cloud.client.post(f"{V}/flavors", json=_body(id="f"), headers=cloud.admin)
    url = f"{V}/flavors/f/os-extra_specs"
    specs = {"extra_specs": {"resources:CUSTOM_BM_GOLD": "1", "hw:numa_nodes": 2}}
    r = await cloud.client.post(url, json=specs, headers=cloud.demo)
    assert r.status_code == 403
    r = await cloud.client.post(url, json=specs, headers=cloud.admin)
    assert r.json()["extra_specs"]["hw:numa_nodes"] == "2"
    r = await cloud.client.get(url, headers=cloud.demo)
    assert r.json()["extra_specs"] == {"resources:CUSTOM_BM_GOLD": "1", "hw:numa_nodes": "2"}
    r = await cloud.client.put(
        f"{url}/hw:numa_nodes", json={"hw:numa_nodes": "1"}, headers=cloud.admin
    )
    assert r.json() == {"hw:numa_nodes": "1"}
    r = await cloud.client.put(f"{url}/hw:numa_nodes", json={"other": "1"}, headers=cloud.admin)
    assert r.status_code == 400
    r = await cloud.client.get(f"{url}/hw:numa_nodes", headers=cloud.demo)
    assert r.json() == {"hw:numa_nodes": "1"}
    r = await cloud.client.delete(f"{url}/hw:numa_nodes", headers=cloud.admin)
    assert r.status_code == 200 and r.content == b""
    r = await cloud.client.get(f"{url}/hw:numa_nodes", headers=cloud.demo)
    assert r.status_code == 404
    r = await cloud.client.post(url, json={"extra_specs": {"bad key!": "x"}}, headers=cloud.admin)
    assert r.status_code == 400 and "extra_specs" in r.text
    r = await cloud.client.post(url, json={"extra_specs": {"k": "x" * 256}}, headers=cloud.admin)
    assert r.status_code == 400 and "extra_specs.k" in r.text


async def test_update_description_needs_255(cloud: Cloud) -> None:
    await cloud.client.post(f"{V}/flavors", json=_body(id="f"), headers=cloud.admin)
    body = {"flavor": {"description": "new"}}
    r = await cloud.client.put(f"{V}/flavors/f", json=body, headers=cloud.admin)
    assert r.status_code == 405
    h = cloud.headers(cloud.admin_token, "2.55")
    r = await cloud.client.put(f"{V}/flavors/f", json=body, headers=h)
    assert r.json()["flavor"]["description"] == "new"
    r = await cloud.client.put(f"{V}/flavors/f", json={"flavor": {"ram": 1}}, headers=h)
    assert r.status_code == 400 and "ram" in r.text
    h = cloud.headers(cloud.demo_token, "2.55")
    r = await cloud.client.put(f"{V}/flavors/f", json=body, headers=h)
    assert r.status_code == 403
