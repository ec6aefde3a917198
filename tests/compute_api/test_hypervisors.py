from stockyard.db.models import Instance
from tests.compute_api.helpers import V, add_host
from tests.conftest import Cloud


async def test_hypervisor_views_and_statistics(cloud: Cloud) -> None:
    h1 = await add_host(cloud, "hv-1", vcpus=8, memory_mb=1000, local_gb=100, vcpus_used=2)
    await add_host(cloud, "hv-2", vcpus=4, memory_mb=500, local_gb=50, stale=True)
    r = await cloud.client.get(f"{V}/os-hypervisors", headers=cloud.demo)
    assert r.status_code == 403
    r = await cloud.client.get(f"{V}/os-hypervisors", headers=cloud.admin)
    assert r.json()["hypervisors"] == [
        {"id": 1, "hypervisor_hostname": "hv-1", "state": "up", "status": "enabled"},
        {"id": 2, "hypervisor_hostname": "hv-2", "state": "down", "status": "enabled"},
    ]
    h53 = cloud.headers(cloud.admin_token, "2.53")
    r = await cloud.client.get(f"{V}/os-hypervisors/detail", headers=h53)
    first = r.json()["hypervisors"][0]
    assert first["id"] == h1.uuid and first["service"]["host"] == "hv-1"
    assert first["free_ram_mb"] == 1000 and first["vcpus_used"] == 2
    assert isinstance(first["cpu_info"], dict)
    r = await cloud.client.get(f"{V}/os-hypervisors/{h1.uuid}", headers=h53)
    assert r.json()["hypervisor"]["hypervisor_hostname"] == "hv-1"
    r = await cloud.client.get(f"{V}/os-hypervisors/1", headers=h53)
    assert r.status_code == 400
    r = await cloud.client.get(f"{V}/os-hypervisors/1", headers=cloud.admin)
    assert r.json()["hypervisor"]["id"] == 1
    assert isinstance(r.json()["hypervisor"]["cpu_info"], str)
    r = await cloud.client.get(f"{V}/os-hypervisors/99", headers=cloud.admin)
    assert r.status_code == 404
    r = await cloud.client.get(f"{V}/os-hypervisors?hypervisor_hostname_pattern=2", headers=h53)
    assert [h["hypervisor_hostname"] for h in r.json()["hypervisors"]] == ["hv-2"]
    r = await cloud.client.get(f"{V}/os-hypervisors?hypervisor_hostname_pattern=x", headers=h53)
    assert r.status_code == 404
    r = await cloud.client.get(f"{V}/os-hypervisors/{h1.uuid}/uptime", headers=h53)
    assert " up " in r.json()["hypervisor"]["uptime"]
    r = await cloud.client.get(f"{V}/os-hypervisors/statistics", headers=cloud.admin)
    stats = r.json()["hypervisor_statistics"]
    assert stats["count"] == 2
    assert stats["vcpus"] == 12 and stats["vcpus_used"] == 2
    assert stats["memory_mb"] == 1500 and stats["free_ram_mb"] == 1500
    assert stats["local_gb"] == 150


async def test_with_servers(cloud: Cloud) -> None:
    host = await add_host(cloud, "hv-1")
    async with cloud.state.db.session() as session:
        session.add(
            Instance(
                name="web", project_id="p", user_id="u", flavor_id="f", host="hv-1", uuid="u-1"
            )
        )
    h53 = cloud.headers(cloud.admin_token, "2.53")
    r = await cloud.client.get(f"{V}/os-hypervisors?with_servers=true", headers=h53)
    assert r.json()["hypervisors"][0]["servers"] == [{"name": "web", "uuid": "u-1"}]
    r = await cloud.client.get(f"{V}/os-hypervisors/{host.uuid}?with_servers=1", headers=h53)
    assert r.json()["hypervisor"]["servers"] == [{"name": "web", "uuid": "u-1"}]
    r = await cloud.client.get(f"{V}/os-hypervisors?with_servers=true", headers=cloud.admin)
    assert r.status_code == 400
    assert r.headers["OpenStack-API-Version"] == "compute 2.1"


async def test_search_and_servers_before_253(cloud: Cloud) -> None:
    """``/os-hypervisors/{pattern}/search`` and ``/servers``: Tempest's shapes, gone in 2.53."""
    await add_host(cloud, "node-a1")
    await add_host(cloud, "node-a2")
    await add_host(cloud, "other")
    async with cloud.state.db.session() as session:
        session.add(
            Instance(
                name="vm", project_id="p", user_id="u", flavor_id="f", host="node-a2", uuid="s-1"
            )
        )
    summary = {"id", "hypervisor_hostname", "state", "status"}
    r = await cloud.client.get(f"{V}/os-hypervisors/node-a/search", headers=cloud.admin)
    assert r.status_code == 200 and set(r.json()) == {"hypervisors"}
    found = r.json()["hypervisors"]
    assert [h["hypervisor_hostname"] for h in found] == ["node-a1", "node-a2"]
    assert all(set(h) == summary for h in found)
    r = await cloud.client.get(f"{V}/os-hypervisors/node-a/servers", headers=cloud.admin)
    assert r.status_code == 200 and set(r.json()) == {"hypervisors"}
    first, second = r.json()["hypervisors"]
    assert set(first) == summary  # no servers: no key (Nova)
    assert set(second) == summary | {"servers"}
    assert second["servers"] == [{"name": "vm", "uuid": "s-1"}]
    for path in ("search", "servers"):
        r = await cloud.client.get(f"{V}/os-hypervisors/zzz/{path}", headers=cloud.admin)
        assert r.status_code == 404 and r.json()["itemNotFound"]["code"] == 404
        r = await cloud.client.get(f"{V}/os-hypervisors/node/{path}", headers=cloud.demo)
        assert r.status_code == 403
        h53 = cloud.headers(cloud.admin_token, "2.53")
        r = await cloud.client.get(f"{V}/os-hypervisors/node/{path}", headers=h53)
        assert r.status_code == 404


async def test_views_from_2_88(cloud: Cloud) -> None:
    """2.88: no capacity fields in detail/show, uptime in show, statistics and
    /{id}/uptime gone; 2.87 still has all of it."""
    h1 = await add_host(cloud, "hv-1", vcpus=8, memory_mb=1000, local_gb=100)
    h88 = cloud.headers(cloud.admin_token, "2.88")
    h87 = cloud.headers(cloud.admin_token, "2.87")
    capacity = {"vcpus", "memory_mb", "local_gb", "free_ram_mb", "running_vms", "cpu_info"}
    r = await cloud.client.get(f"{V}/os-hypervisors/detail", headers=h88)
    first = r.json()["hypervisors"][0]
    assert not capacity & set(first) and "uptime" not in first
    assert first["hypervisor_type"] and first["service"]["host"] == "hv-1"
    r = await cloud.client.get(f"{V}/os-hypervisors/{h1.uuid}", headers=h88)
    shown = r.json()["hypervisor"]
    assert not capacity & set(shown) and " up 0 days" in shown["uptime"]
    for path in ("statistics", f"{h1.uuid}/uptime"):
        r = await cloud.client.get(f"{V}/os-hypervisors/{path}", headers=h88)
        assert r.status_code == 404, path
        r = await cloud.client.get(f"{V}/os-hypervisors/{path}", headers=h87)
        assert r.status_code == 200, path
    r = await cloud.client.get(f"{V}/os-hypervisors/{h1.uuid}", headers=h87)
    assert capacity <= set(r.json()["hypervisor"]) and "uptime" not in r.json()["hypervisor"]
