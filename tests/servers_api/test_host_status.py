"""``host_status`` (2.16+, admin): the server's host's compute service, as os-services."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import event, update

from stockyard.db.base import utcnow
from stockyard.db.models import Host, Instance
from tests.conftest import Cloud
from tests.servers_api.conftest import Seed, server_body

V = "/compute/v2.1"


@contextmanager
def statements(cloud: Cloud) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(str(args[2]))

    engine = cloud.state.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def _server_on(cloud: Cloud, seed: Seed, host: str | None) -> str:
    r = await cloud.client.post(f"{V}/servers", json=server_body(seed), headers=cloud.demo)
    assert r.status_code == 202, r.text
    sid = str(r.json()["server"]["id"])
    async with cloud.state.db.session() as session:
        await session.execute(
            update(Instance)
            .where(Instance.uuid == sid)
            .values(vm_state="active", task_state=None, host=host)
        )
    return sid


async def _service(cloud: Cloud, host: str, **values: Any) -> None:
    async with cloud.state.db.session() as session:
        await session.execute(update(Host).where(Host.name == host).values(**values))


async def test_host_status_follows_the_compute_service(cloud: Cloud, seed: Seed) -> None:
    async with cloud.state.db.session() as session:
        session.add(
            Host(
                name="h3", region="RegionOne", az="az1", rack="r3", vcpus=1, memory_mb=1, local_gb=1
            )
        )
    expected = {
        await _server_on(cloud, seed, "h0"): "UP",
        await _server_on(cloud, seed, "h1"): "MAINTENANCE",
        await _server_on(cloud, seed, "h2"): "DOWN",
        await _server_on(cloud, seed, "h3"): "UNKNOWN",
        await _server_on(cloud, seed, "gone"): "",
        await _server_on(cloud, seed, None): "",
    }
    await _service(cloud, "h1", status="disabled")
    # Forced down wins over disabled, as Nova checks it first.
    await _service(cloud, "h2", forced_down=True, status="disabled")
    await _service(cloud, "h3", last_seen=utcnow() - timedelta(seconds=600))
    admin = cloud.headers(cloud.admin_token, "2.16")
    for sid, status in expected.items():
        r = await cloud.client.get(f"{V}/servers/{sid}", headers=admin)
        assert r.json()["server"]["host_status"] == status, sid
    with statements(cloud) as sql:
        r = await cloud.client.get(f"{V}/servers/detail?all_tenants=1", headers=admin)
    listed = {s["id"]: s["host_status"] for s in r.json()["servers"]}
    assert listed == expected
    # One lookup of the hosts for the whole page, not one per server.
    assert sum(q.lstrip().upper().startswith("SELECT HOSTS") for q in sql) == 1, sql
    # os-services tells the same story for the same hosts.
    r = await cloud.client.get(f"{V}/os-services?binary=nova-compute", headers=admin)
    services = {s["host"]: (s["state"], s["status"]) for s in r.json()["services"]}
    assert services["h0"] == ("up", "enabled") and services["h3"][0] == "down"
    assert services["h1"] == ("up", "disabled") and services["h2"][0] == "down"
    # Recovering the service is seen at once.
    await _service(cloud, "h2", forced_down=False, status="enabled")
    h2_sid = next(sid for sid, s in expected.items() if s == "DOWN")
    r = await cloud.client.get(f"{V}/servers/{h2_sid}", headers=admin)
    assert r.json()["server"]["host_status"] == "UP"


async def test_host_status_is_for_admins_from_2_16(cloud: Cloud, seed: Seed) -> None:
    sid = await _server_on(cloud, seed, "h0")
    await _service(cloud, "h0", last_seen=utcnow() - timedelta(seconds=600))
    r = await cloud.client.get(
        f"{V}/servers/{sid}", headers=cloud.headers(cloud.admin_token, "2.15")
    )
    assert "host_status" not in r.json()["server"]
    # Non-admins never see it, UNKNOWN included (Nova's unknown-only policy is admin-only).
    for path in (f"servers/{sid}", "servers/detail"):
        r = await cloud.client.get(f"{V}/{path}", headers=cloud.headers(cloud.demo_token, "2.79"))
        body = r.json()
        servers = body["servers"] if "servers" in body else [body["server"]]
        assert servers and all("host_status" not in s for s in servers)
    # PUT answers like GET from 2.75, host_status included; before, without it.
    for mv, present in (("2.74", False), ("2.75", True)):
        r = await cloud.client.put(
            f"{V}/servers/{sid}",
            json={"server": {"name": "renamed"}},
            headers=cloud.headers(cloud.admin_token, mv),
        )
        assert r.status_code == 200
        assert ("host_status" in r.json()["server"]) is present, mv
        if present:
            assert r.json()["server"]["host_status"] == "UNKNOWN"
