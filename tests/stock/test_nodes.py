"""Stock counts, node listing and an admin's direct assign/unassign."""

from __future__ import annotations

from tests.conftest import Cloud
from tests.stock.helpers import S, add_node, owner_of, second_project


async def test_version_doc(cloud: Cloud) -> None:
    resp = await cloud.client.get(S)
    assert resp.status_code == 200
    assert resp.json()["version"]["id"] == "v1"
    assert resp.json()["version"]["links"][0]["href"].endswith("/stock/v1")


async def test_member_sees_own_stock_counts(cloud: Cloud) -> None:
    demo = cloud.seeded.demo_project_id
    await add_node(cloud, "n1", rack="r1", owner=demo)
    await add_node(cloud, "n2", rack="r1", owner=demo, in_use=True)
    await add_node(cloud, "n3", rack="r2", owner=demo)
    await add_node(cloud, "n4", rack="r2", resource_class="BM_SILVER", owner=demo)
    await add_node(cloud, "pool1", rack="r3")
    resp = await cloud.client.get(f"{S}/stock", headers=cloud.demo)
    assert resp.status_code == 200
    stock = resp.json()["stock"]
    assert (stock["total"], stock["free"], stock["in_use"]) == (4, 3, 1)
    groups = {(g["resource_class"], g["rack"]): g for g in stock["groups"]}
    assert groups[("BM_GOLD", "r1")]["free"] == 1
    assert groups[("BM_GOLD", "r1")]["in_use"] == 1
    assert groups[("BM_GOLD", "r2")]["total"] == 1
    assert groups[("BM_SILVER", "r2")]["availability_zone"] == "az1"

    nodes = (await cloud.client.get(f"{S}/nodes", headers=cloud.demo)).json()["nodes"]
    assert sorted(n["name"] for n in nodes) == ["n1", "n2", "n3", "n4"]
    assert {n["name"]: n["in_use"] for n in nodes}["n2"] is True


async def test_admin_sees_pool_and_other_projects(cloud: Cloud) -> None:
    demo = cloud.seeded.demo_project_id
    await add_node(cloud, "n1", owner=demo)
    await add_node(cloud, "pool1")
    await add_node(cloud, "pool2", in_use=False)
    pool = (await cloud.client.get(f"{S}/stock?pool=true", headers=cloud.admin)).json()
    assert pool["stock"]["pool"] is True and pool["stock"]["free"] == 2
    other = await cloud.client.get(f"{S}/stock?project_id={demo}", headers=cloud.admin)
    assert other.json()["stock"]["total"] == 1
    all_nodes = (await cloud.client.get(f"{S}/nodes", headers=cloud.admin)).json()["nodes"]
    assert len(all_nodes) == 3
    filtered = await cloud.client.get(f"{S}/nodes?pool=true", headers=cloud.admin)
    assert {n["name"] for n in filtered.json()["nodes"]} == {"pool1", "pool2"}


async def test_member_cannot_look_at_pool_or_other_project(cloud: Cloud) -> None:
    other_pid, other_h = await second_project(cloud)
    await add_node(cloud, "theirs", owner=other_pid)
    assert (await cloud.client.get(f"{S}/stock?pool=true", headers=cloud.demo)).status_code == 403
    resp = await cloud.client.get(f"{S}/stock?project_id={other_pid}", headers=cloud.demo)
    assert resp.status_code == 403
    mine = (await cloud.client.get(f"{S}/nodes", headers=cloud.demo)).json()["nodes"]
    assert mine == []
    theirs = (await cloud.client.get(f"{S}/nodes", headers=other_h)).json()["nodes"]
    assert [n["name"] for n in theirs] == ["theirs"]


async def test_assign_and_unassign(cloud: Cloud) -> None:
    demo = cloud.seeded.demo_project_id
    node = await add_node(cloud, "n1")
    url = f"{S}/nodes/{node}"
    resp = await cloud.client.post(f"{url}/assign", json={"project_id": demo}, headers=cloud.admin)
    assert resp.status_code == 200, resp.text
    assert resp.json()["node"]["owner_project"] == demo
    assert await owner_of(cloud, node) == demo
    resp = await cloud.client.post(f"{url}/unassign", headers=cloud.admin)
    assert resp.status_code == 200
    assert await owner_of(cloud, node) is None


async def test_assign_conflicts_and_bad_input(cloud: Cloud) -> None:
    demo = cloud.seeded.demo_project_id
    other_pid, _ = await second_project(cloud)
    owned = await add_node(cloud, "owned", owner=other_pid)
    busy = await add_node(cloud, "busy", in_use=True)
    busy_owned = await add_node(cloud, "busy-owned", owner=demo, in_use=True)
    free = await add_node(cloud, "free")

    async def assign(node: str, project: str) -> int:
        resp = await cloud.client.post(
            f"{S}/nodes/{node}/assign", json={"project_id": project}, headers=cloud.admin
        )
        return resp.status_code

    assert await assign(owned, demo) == 409
    assert await owner_of(cloud, owned) == other_pid
    assert await assign(busy, demo) == 409
    assert await assign(free, "no-such-project") == 400
    assert await assign("no-such-node", demo) == 404
    resp = await cloud.client.post(f"{S}/nodes/{busy_owned}/unassign", headers=cloud.admin)
    assert resp.status_code == 409
    assert "in use" in resp.json()["conflictingRequest"]["message"]
    assert await owner_of(cloud, busy_owned) == demo
    resp = await cloud.client.post(f"{S}/nodes/{free}/assign", json={}, headers=cloud.admin)
    assert resp.status_code == 400
    assert "project_id" in resp.json()["badRequest"]["message"]


async def test_assign_is_admin_only(cloud: Cloud) -> None:
    node = await add_node(cloud, "n1")
    demo = cloud.seeded.demo_project_id
    resp = await cloud.client.post(
        f"{S}/nodes/{node}/assign", json={"project_id": demo}, headers=cloud.demo
    )
    assert resp.status_code == 403
    resp = await cloud.client.post(f"{S}/nodes/{node}/unassign", headers=cloud.demo)
    assert resp.status_code == 403
    assert await owner_of(cloud, node) is None


async def test_openapi_documents_stock(cloud: Cloud) -> None:
    spec = (await cloud.client.get("/openapi.json")).json()
    assert "/stock/v1/requests/{request_id}/approve" in spec["paths"]
    assert spec["paths"]["/stock/v1/stock"]["get"]["description"]
