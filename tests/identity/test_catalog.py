"""The catalog in tokens and the services/endpoints/regions lists agree."""

from __future__ import annotations

from tests.conftest import Cloud
from tests.identity.helpers import login, project_scope

BASE = "http://127.0.0.1:8774"


async def test_token_catalog_has_every_service_region_and_interface(cloud: Cloud) -> None:
    cloud.state.regions = ["RegionOne", "RegionTwo"]
    resp = await login(cloud, "demo", "demo-pw", project_scope("demo"))
    catalog = {s["type"]: s for s in resp.json()["token"]["catalog"]}
    assert {t: s["name"] for t, s in catalog.items()} == {
        "identity": "keystone",
        "compute": "nova",
        "image": "glance",
        "network": "neutron",
        "block-storage": "cinder",
        "volumev3": "cinderv3",
        "baremetal-stock": "stockyard-stock",
    }
    urls = {
        "identity": f"{BASE}/identity",
        "compute": f"{BASE}/compute/v2.1",
        "image": f"{BASE}/image",
        "network": f"{BASE}/network",
        "block-storage": f"{BASE}/volume/v3",
        "volumev3": f"{BASE}/volume/v3",
        "baremetal-stock": f"{BASE}/stock/v1",
    }
    for service_type, svc in catalog.items():
        assert svc["id"]
        eps = svc["endpoints"]
        assert len(eps) == 6
        assert {(e["region"], e["interface"]) for e in eps} == {
            (r, i) for r in ("RegionOne", "RegionTwo") for i in ("public", "internal", "admin")
        }
        for ep in eps:
            assert ep["url"] == urls[service_type]
            assert ep["region_id"] == ep["region"]
            assert ep["id"]


async def test_endpoint_list_matches_token_catalog(cloud: Cloud) -> None:
    resp = await login(cloud, "admin", "admin-pw", project_scope("admin"))
    from_token = {
        (svc["id"], ep["id"], ep["url"])
        for svc in resp.json()["token"]["catalog"]
        for ep in svc["endpoints"]
    }
    eps = (await cloud.client.get("/identity/v3/endpoints", headers=cloud.admin)).json()
    listed = {(e["service_id"], e["id"], e["url"]) for e in eps["endpoints"]}
    assert listed == from_token
    services = (await cloud.client.get("/identity/v3/services", headers=cloud.admin)).json()
    assert {s["id"] for s in services["services"]} == {sid for sid, _, _ in from_token}
    one = eps["endpoints"][0]
    shown = await cloud.client.get(f"/identity/v3/endpoints/{one['id']}", headers=cloud.admin)
    assert shown.json()["endpoint"] == one
    compute = await cloud.client.get(
        "/identity/v3/endpoints",
        params={"interface": "public", "service_id": services["services"][1]["id"]},
        headers=cloud.admin,
    )
    assert len(compute.json()["endpoints"]) == 1


async def test_regions(cloud: Cloud) -> None:
    resp = await cloud.client.get("/identity/v3/regions", headers=cloud.demo)
    assert [r["id"] for r in resp.json()["regions"]] == ["RegionOne"]
    missing = await cloud.client.get("/identity/v3/regions/Nowhere", headers=cloud.demo)
    assert missing.status_code == 404


async def test_service_lists_are_admin_only(cloud: Cloud) -> None:
    for path in ("/identity/v3/services", "/identity/v3/endpoints"):
        assert (await cloud.client.get(path, headers=cloud.demo)).status_code == 403
        assert (await cloud.client.get(path)).status_code == 401
