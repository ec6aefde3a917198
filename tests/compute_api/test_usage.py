"""``os-simple-tenant-usage``: hours from instance rows, per project and per server."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from stockyard.db.base import utcnow
from stockyard.db.models import Instance
from tests.compute_api.helpers import V
from tests.conftest import Cloud

FLAVOR = {"name": "m1.small", "vcpus": 2, "ram": 2048, "disk": 20, "ephemeral": 5}
FMT = "%Y-%m-%dT%H:%M:%S.%f"


async def _instance(
    cloud: Cloud,
    project: str,
    launched: datetime | None,
    terminated: datetime | None = None,
    name: str = "vm",
) -> str:
    async with cloud.state.db.session() as session:
        inst = Instance(
            name=name,
            project_id=project,
            user_id="u",
            flavor_id="2",
            flavor=FLAVOR,
            vm_state="active" if terminated is None else "deleted",
            launched_at=launched,
            terminated_at=terminated,
            deleted=terminated is not None,
            deleted_at=terminated,
            created_at=launched or utcnow(),
        )
        session.add(inst)
        await session.flush()
        return inst.uuid


def _q(start: datetime, end: datetime, **extra: str) -> str:
    params = {"start": start.strftime(FMT), "end": end.strftime(FMT), **extra}
    return "&".join(f"{k}={v}" for k, v in params.items())


async def _get(cloud: Cloud, url: str, token: str | None = None, mv: str | None = None) -> Any:
    r = await cloud.client.get(url, headers=cloud.headers(token or cloud.admin_token, mv))
    assert r.status_code == 200, r.text
    return r.json()


async def test_project_usage_counts_hours_in_the_period(cloud: Cloud) -> None:
    now = utcnow()
    demo = cloud.seeded.demo_project_id
    running = await _instance(cloud, demo, now - timedelta(hours=2), name="running")
    # Lived 1 h, ended 1 h ago: fully inside the period.
    gone = await _instance(cloud, demo, now - timedelta(hours=2), now - timedelta(hours=1))
    # Ended before the period: not listed.
    await _instance(cloud, demo, now - timedelta(days=5), now - timedelta(days=4))
    await _instance(cloud, "other", now - timedelta(hours=1))
    start, end = now - timedelta(hours=3), now + timedelta(days=1)
    body = await _get(cloud, f"{V}/os-simple-tenant-usage/{demo}?{_q(start, end)}")
    usage = body["tenant_usage"]
    assert usage["tenant_id"] == demo
    assert usage["start"] == start.strftime(FMT)
    servers = {s["instance_id"]: s for s in usage["server_usages"]}
    assert set(servers) == {running, gone}
    assert abs(servers[running]["hours"] - 2) < 0.01
    assert abs(servers[gone]["hours"] - 1) < 0.01
    assert servers[gone]["state"] == "terminated" and servers[gone]["uptime"] == 3600
    assert servers[running]["state"] == "active" and servers[running]["ended_at"] is None
    assert servers[running]["local_gb"] == 25 and servers[running]["flavor"] == "m1.small"
    assert abs(usage["total_hours"] - 3) < 0.01
    assert abs(usage["total_vcpus_usage"] - 6) < 0.05
    assert abs(usage["total_memory_mb_usage"] - 3 * 2048) < 30
    assert abs(usage["total_local_gb_usage"] - 75) < 0.5


async def test_list_all_projects_detailed_and_not(cloud: Cloud) -> None:
    now = utcnow()
    await _instance(cloud, "p-a", now - timedelta(hours=1))
    await _instance(cloud, "p-b", now - timedelta(hours=1))
    q = _q(now - timedelta(days=1), now + timedelta(days=1))
    detailed = await _get(cloud, f"{V}/os-simple-tenant-usage?{q}&detailed=1")
    assert [u["tenant_id"] for u in detailed["tenant_usages"]] == ["p-a", "p-b"]
    assert all(len(u) == 8 for u in detailed["tenant_usages"])
    plain = await _get(cloud, f"{V}/os-simple-tenant-usage?{q}")
    assert all("server_usages" not in u for u in plain["tenant_usages"])


async def test_policy(cloud: Cloud) -> None:
    now = utcnow()
    demo = cloud.seeded.demo_project_id
    await _instance(cloud, demo, now - timedelta(hours=1))
    q = _q(now - timedelta(days=1), now + timedelta(days=1))
    listed = await cloud.client.get(f"{V}/os-simple-tenant-usage?{q}", headers=cloud.demo)
    assert listed.status_code == 403
    own = await _get(cloud, f"{V}/os-simple-tenant-usage/{demo}?{q}", cloud.demo_token)
    assert own["tenant_usage"]["tenant_id"] == demo
    other = cloud.seeded.admin_project_id
    r = await cloud.client.get(f"{V}/os-simple-tenant-usage/{other}?{q}", headers=cloud.demo)
    assert r.status_code == 403


async def test_bad_periods_and_empty_project(cloud: Cloud) -> None:
    now = utcnow()
    demo = cloud.seeded.demo_project_id
    reversed_q = _q(now + timedelta(days=1), now - timedelta(days=1))
    for url in (
        f"{V}/os-simple-tenant-usage/{demo}?{reversed_q}",
        f"{V}/os-simple-tenant-usage?start=yesterday",
    ):
        r = await cloud.client.get(url, headers=cloud.admin)
        assert r.status_code == 400 and "badRequest" in r.json(), r.text
    q = _q(now - timedelta(days=1), now + timedelta(days=1))
    empty = await cloud.client.get(f"{V}/os-simple-tenant-usage/?{q}", headers=cloud.admin)
    assert empty.status_code == 404
    r = await cloud.client.get(f"{V}/os-simple-tenant-usage/nobody?{q}", headers=cloud.admin)
    assert r.status_code == 200
    assert r.json()["tenant_usage"]["server_usages"] == []
    assert r.json()["tenant_usage"]["total_hours"] == 0


async def test_paging_from_2_40(cloud: Cloud) -> None:
    now = utcnow()
    uuids = sorted([await _instance(cloud, "p-a", now - timedelta(hours=1)) for _ in range(3)])
    q = _q(now - timedelta(days=1), now + timedelta(days=1), detailed="1", limit="2")
    first = await _get(cloud, f"{V}/os-simple-tenant-usage?{q}", mv="2.40")
    page = first["tenant_usages"][0]["server_usages"]
    assert [s["instance_id"] for s in page] == uuids[:2]
    link = first["tenant_usages_links"][0]
    assert link["rel"] == "next" and f"marker={uuids[1]}" in link["href"]
    second = await _get(cloud, f"{V}/os-simple-tenant-usage?{q}&marker={uuids[1]}", mv="2.40")
    assert [s["instance_id"] for s in second["tenant_usages"][0]["server_usages"]] == uuids[2:]
    assert "tenant_usages_links" not in second
    # Before 2.40 limit is not a parameter: everything comes back, without links.
    old = await _get(cloud, f"{V}/os-simple-tenant-usage?{q}")
    assert len(old["tenant_usages"][0]["server_usages"]) == 3
    bad = await cloud.client.get(
        f"{V}/os-simple-tenant-usage?{q}&marker=nope",
        headers=cloud.headers(cloud.admin_token, "2.40"),
    )
    assert bad.status_code == 400
    strict = await cloud.client.get(
        f"{V}/os-simple-tenant-usage?{q}&foo=1", headers=cloud.headers(cloud.admin_token, "2.75")
    )
    assert strict.status_code == 400
