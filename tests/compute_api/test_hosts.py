"""``os-hosts``: the list, a host's usage, the update and power actions, admin only."""

from __future__ import annotations

from stockyard.db.heartbeat import CONDUCTOR_BINARY, SCHEDULER_BINARY, ServiceHeartbeat
from stockyard.db.models import Host, Instance
from tests.compute_api.helpers import V, add_host
from tests.conftest import Cloud


async def _setup(cloud: Cloud) -> None:
    await ServiceHeartbeat(cloud.state.db, SCHEDULER_BINARY, host="ctl-1").beat()
    await ServiceHeartbeat(cloud.state.db, CONDUCTOR_BINARY, host="ctl-1").beat()
    await add_host(cloud, "hv-1", az="az1")
    await add_host(cloud, "hv-2", az="az2")
    await add_host(cloud, "hv-off", az="az1", status="disabled")


async def _add_instance(
    cloud: Cloud, host: str, project: str, deleted: bool = False, **flavor: int
) -> None:
    async with cloud.state.db.session() as session:
        session.add(
            Instance(
                name="vm",
                project_id=project,
                user_id="u",
                flavor_id="f",
                flavor=flavor,
                host=host,
                deleted=deleted,
            )
        )


async def test_list_hosts_and_zone_filter(cloud: Cloud) -> None:
    await _setup(cloud)
    r = await cloud.client.get(f"{V}/os-hosts", headers=cloud.admin)
    assert r.status_code == 200, r.text
    # Disabled services are left out, as in Nova.
    assert r.json()["hosts"] == [
        {"host_name": "ctl-1", "service": "scheduler", "zone": "internal"},
        {"host_name": "ctl-1", "service": "conductor", "zone": "internal"},
        {"host_name": "hv-1", "service": "compute", "zone": "az1"},
        {"host_name": "hv-2", "service": "compute", "zone": "az2"},
    ]
    az1 = await cloud.client.get(f"{V}/os-hosts?zone=az1", headers=cloud.admin)
    assert [h["host_name"] for h in az1.json()["hosts"]] == ["hv-1"]
    blank = await cloud.client.get(f"{V}/os-hosts?zone=", headers=cloud.admin)
    assert len(blank.json()["hosts"]) == 4
    none = await cloud.client.get(f"{V}/os-hosts?zone=xxx", headers=cloud.admin)
    assert none.json() == {"hosts": []}


async def test_show_host_usage_rows(cloud: Cloud) -> None:
    await _setup(cloud)
    async with cloud.state.db.session() as session:
        host = await session.get(Host, 1)
        assert host is not None and host.name == "hv-1"
        host.vcpus_used, host.memory_mb_used, host.local_gb_used = 3, 1024, 30
    await _add_instance(cloud, "hv-1", "p1", vcpus=1, ram=512, disk=10, ephemeral=5)
    await _add_instance(cloud, "hv-1", "p2", vcpus=2, ram=512, disk=15)
    await _add_instance(cloud, "hv-1", "p1", vcpus=4, ram=64, disk=1, deleted=True)
    r = await cloud.client.get(f"{V}/os-hosts/hv-1", headers=cloud.admin)
    assert r.status_code == 200, r.text
    rows = [item["resource"] for item in r.json()["host"]]
    assert rows == [
        {"host": "hv-1", "project": "(total)", "cpu": 16, "memory_mb": 65536, "disk_gb": 1000},
        {"host": "hv-1", "project": "(used_now)", "cpu": 3, "memory_mb": 1024, "disk_gb": 30},
        {"host": "hv-1", "project": "(used_max)", "cpu": 3, "memory_mb": 1024, "disk_gb": 30},
        {"host": "hv-1", "project": "p1", "cpu": 1, "memory_mb": 512, "disk_gb": 15},
        {"host": "hv-1", "project": "p2", "cpu": 2, "memory_mb": 512, "disk_gb": 15},
    ]
    # Only compute hosts have a detail; a scheduler's host is not one.
    for name in ("nonexistent_hostname", "ctl-1"):
        missing = await cloud.client.get(f"{V}/os-hosts/{name}", headers=cloud.admin)
        assert missing.status_code == 404
        assert "itemNotFound" in missing.json()


async def test_non_admin_is_forbidden_everywhere(cloud: Cloud) -> None:
    await _setup(cloud)
    calls = [
        ("GET", f"{V}/os-hosts"),
        ("GET", f"{V}/os-hosts/hv-1"),
        ("GET", f"{V}/os-hosts/hv-1/startup"),
        ("GET", f"{V}/os-hosts/hv-1/shutdown"),
        ("GET", f"{V}/os-hosts/hv-1/reboot"),
    ]
    for method, url in calls:
        r = await cloud.client.request(method, url, headers=cloud.demo)
        assert r.status_code == 403, (url, r.text)
    put = await cloud.client.put(
        f"{V}/os-hosts/hv-1", json={"status": "enable"}, headers=cloud.demo
    )
    assert put.status_code == 403


async def test_update_host(cloud: Cloud) -> None:
    await _setup(cloud)
    url = f"{V}/os-hosts/hv-1"
    for body in (
        {"status": "invalid", "maintenance_mode": "enable"},
        {"status": "enable", "maintenance_mode": "invalid"},
        {"status": None, "maintenance_mode": None},
        {},
        {"status": "enable", "other": 1},
    ):
        r = await cloud.client.put(url, json=body, headers=cloud.admin)
        assert r.status_code == 400, (body, r.text)
    missing = await cloud.client.put(
        f"{V}/os-hosts/nonexistent_hostname",
        json={"status": "enable", "maintenance_mode": "enable"},
        headers=cloud.admin,
    )
    assert missing.status_code == 404
    maint = await cloud.client.put(
        url, json={"status": "disable", "maintenance_mode": "enable"}, headers=cloud.admin
    )
    assert maint.status_code == 501 and "notImplemented" in maint.json()
    off = await cloud.client.put(url, json={"status": "Disable"}, headers=cloud.admin)
    assert off.status_code == 200 and off.json() == {"host": "hv-1", "status": "disabled"}
    services = await cloud.client.get(f"{V}/os-services?host=hv-1", headers=cloud.admin)
    assert services.json()["services"][0]["status"] == "disabled"
    on = await cloud.client.put(url, json={"status": "ENABLE"}, headers=cloud.admin)
    assert on.json() == {"host": "hv-1", "status": "enabled"}


async def test_power_actions(cloud: Cloud) -> None:
    await _setup(cloud)
    for action in ("startup", "shutdown", "reboot"):
        missing = await cloud.client.get(
            f"{V}/os-hosts/nonexistent_hostname/{action}", headers=cloud.admin
        )
        assert missing.status_code == 404
        r = await cloud.client.get(f"{V}/os-hosts/hv-1/{action}", headers=cloud.admin)
        assert r.status_code == 501, r.text


async def test_removed_at_2_43(cloud: Cloud) -> None:
    await _setup(cloud)
    ok = await cloud.client.get(f"{V}/os-hosts", headers=cloud.headers(cloud.admin_token, "2.42"))
    assert ok.status_code == 200
    for token in (cloud.admin_token, cloud.demo_token):
        gone = await cloud.client.get(f"{V}/os-hosts", headers=cloud.headers(token, "2.43"))
        assert gone.status_code == 404
