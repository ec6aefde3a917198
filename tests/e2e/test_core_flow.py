"""The core-cloud tour of the README, with the real ``openstack`` CLI against
``stockyard up``: every command of issue #2 and its error cases."""

from __future__ import annotations

import http.client
import time
from pathlib import Path

import httpx

from tests.e2e.conftest import CAPACITY, RunningCloud
from tests.e2e.failure_domains import racks_by_host


def _token(cloud: RunningCloud, name: str) -> str:
    return str(cloud.os_json("token", "issue", cloud=name)["id"])


def test_identity_and_catalog(running_cloud: RunningCloud) -> None:
    token = running_cloud.os_json("token", "issue")
    assert token["id"] and token["project_id"] and token["user_id"]
    catalog = running_cloud.os_json("catalog", "list")
    types = {entry["Type"] for entry in catalog}
    assert {"identity", "compute", "image"} <= types


def test_core_tour(running_cloud: RunningCloud, tmp_path: Path) -> None:
    c = running_cloud
    # DevStack's flavors are seeded; a flavor of the tour's own sizes is created.
    c.os("flavor", "create", "--vcpus", "2", "--ram", "2048", "--disk", "20", "tour.small")
    flavors = {f["Name"] for f in c.os_json("flavor", "list")}
    assert {"m1.nano", "m1.micro", "m1.tiny", "m1.small", "m1.medium", "m1.large"} <= flavors
    assert "tour.small" in flavors

    img = tmp_path / "some.img"
    img.write_bytes(b"\0" * 65536 + b"stockyard")
    c.os("image", "create", "--file", str(img), "--disk-format", "raw", "tiny")
    images = {i["Name"]: i for i in c.os_json("image", "list")}
    assert images["tiny"]["Status"] == "active"

    key = c.os("keypair", "create", "demo-key")
    assert "PRIVATE KEY" in key.stdout

    zones = {z["Zone Name"] for z in c.os_json("availability", "zone", "list")}
    assert {"az1", "az2"} <= zones

    hypervisors = c.os_json("hypervisor", "list")
    assert len(hypervisors) >= 6
    # A host of az2, found from the rack aggregates (host names are not parsed).
    racks = racks_by_host(c)
    names = {h["Hypervisor Hostname"] for h in hypervisors}
    assert set(racks) == names  # every host is in its rack
    az2_host = min(h for h, rack in racks.items() if rack.startswith("RegionOne/az2/"))
    c.os("aggregate", "create", "--zone", "az2", "fast")
    c.os("aggregate", "add", "host", "fast", az2_host)
    c.os("aggregate", "set", "--property", "ssd=true", "fast")
    agg = c.os_json("aggregate", "show", "fast")
    assert az2_host in agg["hosts"]
    hyp = c.os_json(*CAPACITY, "hypervisor", "show", az2_host)
    assert hyp["vcpus"] > 0

    # os-services through the openstack CLI: the real processes, and the old disable form.
    services = c.os_json("compute", "service", "list")
    by_binary = {s["Binary"]: s for s in services}
    assert set(by_binary) == {"nova-scheduler", "nova-conductor", "nova-compute"}
    assert by_binary["nova-conductor"]["State"] == "up"
    assert by_binary["nova-scheduler"]["Zone"] == "internal"
    c.os("compute", "service", "set", "--disable", "--disable-reason", "tour", az2_host,
         "nova-compute")  # fmt: skip
    listed = c.os_json("compute", "service", "list", "--host", az2_host, "--long")
    assert [(s["Status"], s["Disabled Reason"]) for s in listed] == [("disabled", "tour")]
    c.os("compute", "service", "set", "--enable", az2_host, "nova-compute")

    group = c.os_json("server", "group", "create", "--policy", "anti-affinity", "web")
    c.os(
        "server",
        "create",
        "--flavor",
        "tour.small",
        "--image",
        "tiny",
        "--key-name",
        "demo-key",
        "--availability-zone",
        "az1",
        "--hint",
        f"group={group['id']}",
        "--min",
        "3",
        "--max",
        "3",
        "--wait",
        "web",
    )
    servers = {s["Name"]: s for s in c.os_json("server", "list")}
    for name in ("web-1", "web-2", "web-3"):
        assert servers[name]["Status"] == "ACTIVE", servers[name]
    hosts = set()
    for name in ("web-1", "web-2", "web-3"):
        shown = c.os_json("server", "show", name)
        assert shown["status"] == "ACTIVE"
        assert shown["OS-EXT-AZ:availability_zone"] == "az1"
        assert shown["addresses"], "an ACTIVE server has an address"
        hosts.add(shown["OS-EXT-SRV-ATTR:host"])
    assert len(hosts) == 3, f"anti-affinity group landed on {hosts}"

    c.os("server", "reboot", "--wait", "web-1")
    c.os("server", "stop", "web-1")
    _wait_status(c, "web-1", "SHUTOFF")
    c.os("server", "start", "web-1")
    _wait_status(c, "web-1", "ACTIVE")
    c.os("server", "rebuild", "--image", "tiny", "--wait", "web-1")
    events = c.os_json("server", "event", "list", "web-1")
    actions = {e["Action"] for e in events}
    assert {"create", "reboot", "stop", "start", "rebuild"} <= actions

    quota = c.os_json("quota", "show")
    assert any(row.get("Resource") == "instances" for row in quota) or "instances" in str(quota)
    limits = c.os_json("limits", "show", "--absolute")
    used = {row["Name"]: row["Value"] for row in limits}
    assert used["instances_used"] == 3 and used["total_cores_used"] == 6

    c.os("server", "delete", "--wait", "web-1", "web-2", "web-3")
    remaining = {s["Name"] for s in c.os_json("server", "list")}
    assert not remaining & {"web-1", "web-2", "web-3"}
    for h in c.os_json(*CAPACITY, "hypervisor", "list", "--long"):
        assert h.get("vCPUs Used", 0) == 0, h


def _wait_status(c: RunningCloud, name: str, status: str, timeout: float = 60) -> None:
    import time

    deadline = time.monotonic() + timeout
    current = ""
    while time.monotonic() < deadline:
        current = c.os_json("server", "show", name)["status"]
        if current == status:
            return
        time.sleep(0.5)
    raise AssertionError(f"{name} stayed {current}, wanted {status}")


def test_errors_look_like_openstack(running_cloud: RunningCloud) -> None:
    c = running_cloud
    # Fits the quota (cores 20, RAM 51200 MB) but no 32 GiB hypervisor of the lab.
    c.os("flavor", "create", "--vcpus", "4", "--ram", "40000", "--disk", "1", "m1.huge")
    proc = c.os(
        "server",
        "create",
        "--flavor",
        "m1.huge",
        "--image",
        "stockyard-default",
        "--wait",
        "too-big",
        check=False,
    )
    assert proc.returncode != 0
    shown = c.os_json("server", "show", "too-big")
    assert shown["status"] == "ERROR"
    assert "No valid host" in shown["fault"]["message"]
    c.os("server", "delete", "--wait", "too-big")

    member = _token(c, "stockyard")
    base = f"{c.base_url}/compute/v2.1"
    r = httpx.post(
        f"{base}/flavors",
        headers={"X-Auth-Token": member},
        json={"flavor": {"name": "x", "ram": 1, "vcpus": 1, "disk": 1}},
    )
    assert r.status_code == 403 and "forbidden" in r.json()
    r = httpx.get(
        f"{base}/servers/00000000-0000-0000-0000-000000000000", headers={"X-Auth-Token": member}
    )
    assert r.status_code == 404 and "itemNotFound" in r.json()
    r = httpx.post(
        f"{base}/servers",
        headers={"X-Auth-Token": member},
        json={"server": {"name": "x", "imageRef": "y"}},
    )
    assert r.status_code == 400 and "flavorRef" in r.json()["badRequest"]["message"]

    admin = _token(c, "stockyard-admin")
    projects = httpx.get(f"{c.base_url}/identity/v3/projects", headers={"X-Auth-Token": admin})
    demo_id = next(p["id"] for p in projects.json()["projects"] if p["name"] == "demo")
    r = httpx.put(
        f"{base}/os-quota-sets/{demo_id}",
        headers={"X-Auth-Token": admin},
        json={"quota_set": {"instances": 1}},
    )
    assert r.status_code == 200, r.text
    proc = c.os(
        "server",
        "create",
        "--flavor",
        "m1.tiny",
        "--image",
        "stockyard-default",
        "--min",
        "2",
        "--max",
        "2",
        "q",
        cloud="stockyard",
        check=False,
    )
    assert proc.returncode != 0
    assert "Quota exceeded for instances" in proc.stderr, proc.stderr


def test_an_idle_connection_outlives_the_cli_poll_interval(running_cloud: RunningCloud) -> None:
    # ``openstack server create --wait`` polls every 5 s on one kept-alive connection; a
    # server that closes idle connections at 5 s races it and the CLI fails with
    # "Remote end closed connection without response".
    url = httpx.URL(running_cloud.base_url)
    conn = http.client.HTTPConnection(url.host, url.port, timeout=30)
    try:
        conn.request("GET", "/compute/v2.1")
        first = conn.getresponse()
        first.read()
        assert first.status == 200
        time.sleep(6)
        conn.request("GET", "/compute/v2.1")
        second = conn.getresponse()
        second.read()
        assert second.status == 200
    finally:
        conn.close()
