"""An operator brings a real server into a running cloud through the stock API.

The "real" server is a Redfish BMC the cloud has never seen (sushy-tools, started by
the test on 127.0.0.1). The admin enrols it with the BMC's address and credentials; a
wrong password is refused naming the BMC and leaves nothing behind; the node joins the
demo project's stock, the region's baremetal agent picks it up, and the demo member
builds a server on it with the real ``openstack`` CLI through a flavor the admin made for
its new resource class. The node cannot be removed while it holds the server; once the
server is gone it can, and it leaves the stock and its hardware manager.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from stockyard.hwmgr.emulators.redfish import RedfishEmulator, SystemSpec
from tests.e2e.conftest import RunningCloud, lab_cloud
from tests.e2e.test_stock_flow import _Stock

DEMO = "stockyard"
MAC = "52:54:00:aa:10:01"
LAB: dict[str, Any] = {
    "version": 1,
    "fake": {"boot_seconds": 0},
    "regions": [
        {
            "name": "RegionOne",
            "cidr": "10.10.0.0/16",
            "azs": [{"name": "az1", "racks": [{"name": "r1"}, {"name": "r2"}]}],
        }
    ],
    "baremetal": {
        "install_seconds": 0,
        "classes": {"BM_GOLD": {"cpus": 4, "memory_mb": 4096, "disk_gb": 10}},
        "racks": [
            {"region": "RegionOne", "az": "az1", "rack": "r1", "nodes": [
                {"resource_class": "BM_GOLD", "count": 1, "bmc": "redfish"},
            ]},
        ],
    },
}  # fmt: skip


class _Bmc:
    """A Redfish BMC with one server, served from a thread of its own for the module."""

    def __init__(self) -> None:
        self.system = SystemSpec(name="iron-1", macs=[MAC])
        self.emulator = RedfishEmulator([self.system], password="bmc-secret-1", power_delay=0)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> _Bmc:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.emulator.start(), self._loop).result(60)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.emulator.stop(), self._loop).result(60)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def body(self, password: str = "bmc-secret-1") -> dict[str, Any]:
        return {
            "driver": "redfish",
            "address": self.emulator.host,
            "port": self.emulator.port,
            "username": self.emulator.username,
            "password": password,
            "system_id": self.system.uuid,
        }


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCloud]:
    with lab_cloud(tmp_path_factory, "enrol", LAB) as c:
        yield c


def _node(name: str, bmc: dict[str, Any], project_id: str | None) -> dict[str, Any]:
    return {
        "name": name, "region": "RegionOne", "availability_zone": "az1", "rack": "r2",
        "resource_class": "BM_IRON", "cpus": 4, "memory_mb": 4096, "disk_gb": 10,
        "macs": [MAC], "bmc": bmc, "project_id": project_id,
    }  # fmt: skip


def _names(admin: _Stock) -> set[str]:
    return {n["name"] for n in admin.get("/nodes")["nodes"]}


def _hw_names(admin: _Stock) -> set[str]:
    return {n["name"] for n in admin.get("/node-states")["nodes"]}


def test_a_real_node_is_enrolled_used_and_removed(cloud: RunningCloud) -> None:
    c = cloud
    admin, member = _Stock(c, "stockyard-admin"), _Stock(c, DEMO)
    demo_project = member.project
    with _Bmc() as bmc:
        # A wrong BMC password: 400 naming the BMC, and nothing written anywhere.
        r = admin.call("POST", "/nodes", json=_node("iron-1", bmc.body("wrong"), demo_project))
        assert r.status_code == 400, r.text
        message = r.json()["badRequest"]["message"]
        assert message.startswith("bmc:"), message
        assert "wrong" not in r.text and "bmc-secret-1" not in r.text
        assert "iron-1" not in _names(admin) and "iron-1" not in _hw_names(admin)

        # A member may not enrol; bad input names its field.
        r = member.call("POST", "/nodes", json=_node("iron-1", bmc.body(), demo_project))
        assert r.status_code == 403, r.text
        bad = _node("iron-1", bmc.body(), demo_project) | {"macs": ["not-a-mac"]}
        r = admin.call("POST", "/nodes", json=bad)
        assert r.status_code == 400 and "macs" in r.text, r.text

        r = admin.call("POST", "/nodes", json=_node("iron-1", bmc.body(), demo_project))
        assert r.status_code == 201, r.text
        node = r.json()["node"]
        assert node["name"] == "iron-1" and node["owner_project"] == demo_project
        assert (node["resource_class"], node["rack"], node["in_use"]) == ("BM_IRON", "r2", False)
        assert "password" not in r.text and "bmc-secret-1" not in c.log_path.read_text()
        again = admin.call("POST", "/nodes", json=_node("iron-1", bmc.body(), demo_project))
        assert again.status_code == 409 and "name" in again.text, again.text
        # The node is in the member's stock, and in the hardware manager's view.
        assert "iron-1" in {n["name"] for n in member.get("/nodes")["nodes"]}
        states = {n["name"]: n for n in admin.get("/node-states")["nodes"]}
        assert states["iron-1"]["provision_state"] == "available", states["iron-1"]

        # Schedulable once the region's baremetal agent reports it (its rescan interval).
        deadline = time.monotonic() + 120
        while c.os_json("hypervisor", "show", "iron-1")["state"] != "up":
            assert time.monotonic() < deadline, c.os_json("hypervisor", "show", "iron-1")
            time.sleep(1)
        c.os(
            "flavor", "create", "--vcpus", "4", "--ram", "4096", "--disk", "10",
            "--property", "resources:CUSTOM_BM_IRON=1", "bm.iron",
        )  # fmt: skip
        proc = c.os(
            "server", "create", "--flavor", "bm.iron", "--image", "stockyard-default",
            "--wait", "on-iron", cloud=DEMO, check=False, timeout=400,
        )  # fmt: skip
        server = c.os_json("server", "show", "on-iron", cloud=DEMO)
        assert server["status"] == "ACTIVE", (proc.stderr, server.get("fault"), c.log_tail())
        seen_by_admin = c.os_json("server", "show", server["id"])
        assert seen_by_admin["OS-EXT-SRV-ATTR:hypervisor_hostname"] == "iron-1"

        r = admin.call("DELETE", f"/nodes/{node['uuid']}")
        assert r.status_code == 409 and "holds a server" in r.text, r.text

        c.os("server", "delete", "--wait", "on-iron", cloud=DEMO, timeout=300)
        # After the delete the hardware manager cleans the node: removal waits for it.
        deadline = time.monotonic() + 120
        while True:
            r = admin.call("DELETE", f"/nodes/{node['uuid']}")
            if r.status_code != 409 or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert r.status_code == 204, r.text
        assert "iron-1" not in _names(admin) and "iron-1" not in _hw_names(admin)
        r = admin.call("DELETE", f"/nodes/{node['uuid']}")
        assert r.status_code == 404, r.text


def test_stock_api_routes_are_admin_only_for_enrolment(cloud: RunningCloud) -> None:
    member = _Stock(cloud, DEMO)
    r = member.call("DELETE", "/nodes/00000000-0000-0000-0000-000000000000")
    assert r.status_code == 403, r.text
    r = httpx.post(f"{member.url}/nodes", json={}, timeout=30)
    assert r.status_code == 401, r.text
