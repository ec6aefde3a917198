"""The stock request workflow: create, approve (with spread), reject, cancel, isolation."""

from __future__ import annotations

from typing import Any

from tests.conftest import Cloud
from tests.stock.helpers import S, add_node, owner_of, second_project


async def _create(cloud: Cloud, headers: dict[str, str], **body: Any) -> Any:
    payload = {"resource_class": "BM_GOLD", "availability_zone": "az1", "count": 1, **body}
    return await cloud.client.post(f"{S}/requests", json=payload, headers=headers)


async def _pending(cloud: Cloud, headers: dict[str, str] | None = None, **body: Any) -> str:
    resp = await _create(cloud, headers or cloud.demo, **body)
    assert resp.status_code == 201, resp.text
    req = resp.json()["request"]
    assert req["status"] == "pending"
    return str(req["id"])


async def _action(cloud: Cloud, rid: str, verb: str, headers: dict[str, str], **body: Any) -> Any:
    return await cloud.client.post(f"{S}/requests/{rid}/{verb}", json=body or None, headers=headers)


async def test_create_validates_fields(cloud: Cloud) -> None:
    await add_node(cloud, "n1")
    for bad, field in (
        ({"count": 0}, "count"),
        ({"count": 1001}, "count"),
        ({"resource_class": "bm gold"}, "resource_class"),
        ({"count": 2, "min_racks": 3}, "min_racks"),
        ({"min_racks": 0}, "min_racks"),
        ({"availability_zone": "nowhere"}, "availability_zone"),
    ):
        resp = await _create(cloud, cloud.demo, **bad)
        assert resp.status_code == 400, (bad, resp.text)
        assert field in resp.json()["badRequest"]["message"]
    listed = (await cloud.client.get(f"{S}/requests", headers=cloud.demo)).json()
    assert listed["requests"] == []


async def test_approve_without_spread(cloud: Cloud) -> None:
    demo = cloud.seeded.demo_project_id
    nodes = [await add_node(cloud, f"n{i}", rack="r1") for i in range(3)]
    await add_node(cloud, "silver", resource_class="BM_SILVER")
    await add_node(cloud, "busy", in_use=True)
    await add_node(cloud, "off", status="disabled")
    await add_node(cloud, "elsewhere", az="az2")
    rid = await _pending(cloud, count=2)
    resp = await _action(cloud, rid, "approve", cloud.admin)
    assert resp.status_code == 200, resp.text
    req = resp.json()["request"]
    assert req["status"] == "approved" and req["decided_at"]
    assert len(req["assigned_nodes"]) == 2 and set(req["assigned_nodes"]) <= set(nodes)
    for node in req["assigned_nodes"]:
        assert await owner_of(cloud, node) == demo
    stock = (await cloud.client.get(f"{S}/stock", headers=cloud.demo)).json()["stock"]
    assert stock["free"] == 2
    shown = await cloud.client.get(f"{S}/requests/{rid}", headers=cloud.demo)
    assert shown.json()["request"]["assigned_nodes"] == req["assigned_nodes"]


async def test_approve_with_spread_uses_the_fullest_racks(cloud: Cloud) -> None:
    for i in range(4):
        await add_node(cloud, f"a{i}", rack="ra")
    for i in range(2):
        await add_node(cloud, f"b{i}", rack="rb")
    await add_node(cloud, "c0", rack="rc")
    rid = await _pending(cloud, count=4, min_racks=3)
    resp = await _action(cloud, rid, "approve", cloud.admin)
    assert resp.status_code == 200, resp.text
    nodes = (await cloud.client.get(f"{S}/nodes", headers=cloud.demo)).json()["nodes"]
    racks = sorted(n["rack"] for n in nodes)
    assert racks == ["ra", "ra", "rb", "rc"]


async def test_impossible_spread_is_409_naming_the_shortfall(cloud: Cloud) -> None:
    await add_node(cloud, "a0", rack="ra")
    await add_node(cloud, "a1", rack="ra")
    await add_node(cloud, "b0", rack="rb")
    await add_node(cloud, "c0", rack="rc", owner=cloud.seeded.admin_project_id)
    rid = await _pending(cloud, count=3, min_racks=3)
    resp = await _action(cloud, rid, "approve", cloud.admin)
    assert resp.status_code == 409
    msg = resp.json()["conflictingRequest"]["message"]
    assert msg == "only 2 racks in az1 have free BM_GOLD nodes, 3 requested"
    # All or nothing: nothing assigned, the request still pending.
    pool = (await cloud.client.get(f"{S}/stock?pool=true", headers=cloud.admin)).json()
    assert pool["stock"]["free"] == 3
    shown = (await cloud.client.get(f"{S}/requests/{rid}", headers=cloud.demo)).json()
    assert shown["request"]["status"] == "pending"
    too_many = await _pending(cloud, count=5)
    resp = await _action(cloud, too_many, "approve", cloud.admin)
    assert resp.status_code == 409
    assert "only 3 free BM_GOLD nodes in az1, 5 requested" in resp.text


async def test_reject_needs_a_reason_and_is_shown(cloud: Cloud) -> None:
    await add_node(cloud, "n1")
    rid = await _pending(cloud)
    assert (await _action(cloud, rid, "reject", cloud.admin)).status_code == 400
    resp = await _action(cloud, rid, "reject", cloud.admin, reason="")
    assert resp.status_code == 400 and "reason" in resp.text
    resp = await _action(cloud, rid, "reject", cloud.admin, reason="x" * 256)
    assert resp.status_code == 400
    resp = await _action(cloud, rid, "reject", cloud.admin, reason="no budget this quarter")
    assert resp.status_code == 200
    shown = (await cloud.client.get(f"{S}/requests/{rid}", headers=cloud.demo)).json()
    assert shown["request"]["status"] == "rejected"
    assert shown["request"]["reason"] == "no budget this quarter"
    assert shown["request"]["decided_by"] == cloud.seeded.admin_user_id


async def test_cancel_and_illegal_transitions(cloud: Cloud) -> None:
    await add_node(cloud, "n1")
    await add_node(cloud, "n2")
    rid = await _pending(cloud)
    resp = await _action(cloud, rid, "cancel", cloud.demo)
    assert resp.status_code == 200 and resp.json()["request"]["status"] == "cancelled"
    for verb, headers, body in (
        ("cancel", cloud.demo, {}),
        ("approve", cloud.admin, {}),
        ("reject", cloud.admin, {"reason": "late"}),
    ):
        resp = await _action(cloud, rid, verb, headers, **body)
        assert resp.status_code == 409, verb
        assert "cancelled" in resp.json()["conflictingRequest"]["message"]
    approved = await _pending(cloud)
    assert (await _action(cloud, approved, "approve", cloud.admin)).status_code == 200
    assert (await _action(cloud, approved, "cancel", cloud.demo)).status_code == 409
    assert (await _action(cloud, approved, "approve", cloud.admin)).status_code == 409
    rejected = await _pending(cloud)
    assert (await _action(cloud, rejected, "reject", cloud.admin, reason="no")).status_code == 200
    assert (await _action(cloud, rejected, "approve", cloud.admin)).status_code == 409
    assert await owner_of(cloud, (await _nodes_left(cloud))[0]) is None


async def _nodes_left(cloud: Cloud) -> list[str]:
    pool = await cloud.client.get(f"{S}/nodes?pool=true", headers=cloud.admin)
    return [n["uuid"] for n in pool.json()["nodes"]]


async def test_isolation_between_projects(cloud: Cloud) -> None:
    await add_node(cloud, "n1")
    other_pid, other_h = await second_project(cloud)
    theirs = await _pending(cloud, other_h)
    mine = await _pending(cloud)
    listed = (await cloud.client.get(f"{S}/requests", headers=cloud.demo)).json()["requests"]
    assert [r["id"] for r in listed] == [mine]
    assert (await cloud.client.get(f"{S}/requests/{theirs}", headers=cloud.demo)).status_code == 404
    assert (await _action(cloud, theirs, "cancel", cloud.demo)).status_code == 404
    admin_list = await cloud.client.get(f"{S}/requests?status=pending", headers=cloud.admin)
    assert {r["id"] for r in admin_list.json()["requests"]} == {mine, theirs}
    assert {r["project_id"] for r in admin_list.json()["requests"]} == {
        other_pid,
        cloud.seeded.demo_project_id,
    }
    none = await cloud.client.get(f"{S}/requests?status=approved", headers=cloud.admin)
    assert none.json()["requests"] == []


async def test_members_cannot_decide_and_readers_cannot_write(cloud: Cloud) -> None:
    await add_node(cloud, "n1")
    rid = await _pending(cloud)
    assert (await _action(cloud, rid, "approve", cloud.demo)).status_code == 403
    resp = await _action(cloud, rid, "reject", cloud.demo, reason="mine")
    assert resp.status_code == 403
    _, reader_h = await second_project(cloud, role="reader")
    assert (await _create(cloud, reader_h)).status_code == 403
    assert (await cloud.client.get(f"{S}/requests", headers=reader_h)).status_code == 200
    assert (await cloud.client.get(f"{S}/stock", headers=reader_h)).status_code == 200
    shown = (await cloud.client.get(f"{S}/requests/{rid}", headers=cloud.demo)).json()
    assert shown["request"]["status"] == "pending"
