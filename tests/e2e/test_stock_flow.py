"""Baremetal stock with the real ``openstack`` CLI (and the stock API with the CLI's own
token) against a real ``stockyard up``: project isolation, stock requests approved
(rack spread, atomically) or rejected with a reason, and a deleted server's node back in
the project's free stock once cleaned.

Lab: az1 with demo ("A") owning 2 BM_GOLD nodes on r1; the pool holds r1-bm03, r2-bm01,
r2-bm02 and r3-bm01 (4 nodes on 3 racks). Redfish only, zero install time.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml

from tests.e2e.conftest import RunningCloud, lab_cloud

A, B = "stockyard", "projb"  # clouds.yaml entries: demo's and project B's member
_GOLD = {"resource_class": "BM_GOLD", "bmc": "redfish"}
LAB: dict[str, Any] = {
    "version": 1,
    "fake": {"boot_seconds": 0},
    "regions": [
        {
            "name": "RegionOne",
            "cidr": "10.10.0.0/16",
            "azs": [{"name": "az1", "racks": [{"name": f"r{i}"} for i in (1, 2, 3)]}],
        }
    ],
    "baremetal": {
        "install_seconds": 0,
        "classes": {"BM_GOLD": {"cpus": 4, "memory_mb": 4096, "disk_gb": 10}},
        "racks": [
            {"region": "RegionOne", "az": "az1", "rack": "r1", "nodes": [
                {**_GOLD, "count": 2, "stock": "demo"}, {**_GOLD, "count": 1},
            ]},
            {"region": "RegionOne", "az": "az1", "rack": "r2", "nodes": [{**_GOLD, "count": 2}]},
            {"region": "RegionOne", "az": "az1", "rack": "r3", "nodes": [{**_GOLD, "count": 1}]},
        ],
    },
}  # fmt: skip


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCloud]:
    with lab_cloud(tmp_path_factory, "stock", LAB) as c:
        _add_project_b(c)
        yield c


def _add_project_b(c: RunningCloud) -> None:
    """Project B with a member user, and a clouds.yaml entry ``projb`` for it."""
    c.os("project", "create", "projb")
    c.os("user", "create", "--project", "projb", "--password", "projb-pw-1234", "userb")
    c.os("role", "add", "--project", "projb", "--user", "userb", "member")
    doc = yaml.safe_load(c.clouds_yaml.read_text())
    entry = dict(doc["clouds"][A])
    entry["auth"] = dict(
        entry["auth"], username="userb", password="projb-pw-1234", project_name="projb"
    )
    doc["clouds"][B] = entry
    c.clouds_yaml.write_text(yaml.safe_dump(doc))


class _Stock:
    """The stock API at the catalog's ``baremetal-stock`` endpoint, with a CLI token."""

    def __init__(self, c: RunningCloud, cloud: str) -> None:
        self.token = c.os_json("token", "issue", cloud=cloud)["id"]
        self.project = c.os_json("token", "issue", cloud=cloud)["project_id"]
        service = c.os_json("catalog", "show", "baremetal-stock", cloud=cloud)
        endpoints = service["endpoints"]
        if isinstance(endpoints, str):  # older clients render "RegionOne\n  public: URL"
            url = next(w for w in endpoints.split() if w.startswith("http"))
        else:
            url = next(e["url"] for e in endpoints if e.get("interface") == "public")
        self.url = url.rstrip("/")

    def call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        return httpx.request(
            method, f"{self.url}{path}", headers={"X-Auth-Token": self.token}, timeout=60, **kw
        )

    def get(self, path: str, **params: str) -> Any:
        r = self.call("GET", path, params=params)
        assert r.status_code == 200, r.text
        return r.json()


def _settled(c: RunningCloud, name: str, cloud: str) -> dict[str, Any]:
    deadline = time.monotonic() + 300
    while True:
        server: dict[str, Any] = c.os_json("server", "show", name, cloud=cloud)
        if server["status"] in ("ACTIVE", "ERROR") and not server.get("OS-EXT-STS:task_state"):
            return server
        assert time.monotonic() < deadline, server
        time.sleep(1)


def _create(c: RunningCloud, name: str, cloud: str) -> dict[str, Any]:
    c.os(
        "server", "create", "--flavor", "bm.gold", "--image", "stockyard-default",
        "--wait", name, cloud=cloud, check=False, timeout=400,
    )  # fmt: skip
    return _settled(c, name, cloud)


def _wait_free(stock: _Stock, free: int) -> dict[str, Any]:
    deadline = time.monotonic() + 300
    while True:
        counts: dict[str, Any] = stock.get("/stock")["stock"]
        if counts["free"] == free or time.monotonic() > deadline:
            return counts
        time.sleep(1)


def test_project_b_cannot_use_or_see_a_stock(cloud: RunningCloud) -> None:
    c = cloud
    a, b = _Stock(c, A), _Stock(c, B)
    assert (a.get("/stock")["stock"]["total"], a.get("/stock")["stock"]["free"]) == (2, 2)
    assert {n["name"] for n in a.get("/nodes")["nodes"]} == {
        "regionone-az1-r1-bm01",
        "regionone-az1-r1-bm02",
    }
    # B sees the flavor, but no stock, and nothing of A's.
    assert "bm.gold" in {f["Name"] for f in c.os_json("flavor", "list", cloud=B)}
    assert b.get("/stock")["stock"]["total"] == 0
    assert b.get("/nodes")["nodes"] == []
    assert b.call("GET", "/stock", params={"project_id": a.project}).status_code == 403

    server = _create(c, "b-nostock", B)
    assert server["status"] == "ERROR"
    fault = str(server.get("fault"))
    assert "No valid host" in fault and "stock" in fault, fault
    assert a.get("/stock")["stock"]["free"] == 2  # A's nodes were never touched
    c.os("server", "delete", "--wait", "b-nostock", cloud=B, timeout=300)


def test_stock_requests_approve_with_spread_reject_and_delete_returns_node(
    cloud: RunningCloud,
) -> None:
    c = cloud
    admin, b = _Stock(c, "stockyard-admin"), _Stock(c, B)

    # B asks for 3 nodes over 3 racks; the admin approves: 3 pool nodes, one per rack.
    r = b.call(
        "POST", "/requests",
        json={"resource_class": "BM_GOLD", "availability_zone": "az1", "count": 3,
              "min_racks": 3},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    spread = r.json()["request"]
    assert spread["status"] == "pending"
    assert b.get(f"/requests/{spread['id']}")["request"]["status"] == "pending"
    r = admin.call("POST", f"/requests/{spread['id']}/approve")
    assert r.status_code == 200, r.text
    approved = b.get(f"/requests/{spread['id']}")["request"]
    assert approved["status"] == "approved" and len(approved["assigned_nodes"]) == 3
    mine = b.get("/nodes")["nodes"]
    assert {n["uuid"] for n in mine} == set(approved["assigned_nodes"])
    assert {n["rack"] for n in mine} == {"r1", "r2", "r3"}
    assert all(n["owner_project"] == b.project for n in mine)
    assert b.get("/stock")["stock"]["free"] == 3

    # A second request is rejected with a reason B can read.
    r = b.call(
        "POST", "/requests",
        json={"resource_class": "BM_GOLD", "availability_zone": "az1", "count": 1},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    extra = r.json()["request"]["id"]
    r = admin.call("POST", f"/requests/{extra}/reject", json={"reason": "no budget left"})
    assert r.status_code == 200, r.text
    rejected = b.get(f"/requests/{extra}")["request"]
    assert (rejected["status"], rejected["reason"]) == ("rejected", "no budget left")
    assert {q["status"] for q in b.get("/requests")["requests"]} == {"approved", "rejected"}
    assert b.get("/stock")["stock"]["total"] == 3

    # B's server lands on B's stock only; deleting it cleans the node back into it.
    time.sleep(5)  # the scheduler reloads stock owners every second
    server = _create(c, "b-one", B)
    assert server["status"] == "ACTIVE", server.get("fault")
    host = c.os_json("server", "show", server["id"])["OS-EXT-SRV-ATTR:host"]
    assert host in {n["name"] for n in mine}, host
    counts = b.get("/stock")["stock"]
    assert (counts["free"], counts["in_use"]) == (2, 1)
    c.os("server", "delete", "--wait", "b-one", cloud=B, timeout=300)
    counts = _wait_free(b, 3)
    assert (counts["free"], counts["in_use"]) == (3, 0)
    nodes = {n["name"]: n for n in b.get("/nodes")["nodes"]}
    assert nodes[host]["in_use"] is False and nodes[host]["owner_project"] == b.project
    assert _Stock(c, A).get("/stock")["stock"]["free"] == 2
