"""``os-services``: Nova's key sets per microversion, the actions, admin only, heartbeats."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select

from stockyard.api.compute.services import PROCESS_ID_BASE
from stockyard.db.base import utcnow
from stockyard.db.heartbeat import CONDUCTOR_BINARY, SCHEDULER_BINARY, ServiceHeartbeat
from stockyard.db.models import Aggregate, AggregateHost, Host, Instance
from stockyard.db.models.compute import Service
from tests.compute_api.helpers import V, add_host
from tests.conftest import Cloud

BASE_KEYS = {"id", "zone", "host", "state", "binary", "status", "updated_at", "disabled_reason"}
KEYS_211 = BASE_KEYS | {"forced_down"}


async def _beat(cloud: Cloud, binary: str, host: str = "ctl-1") -> ServiceHeartbeat:
    hb = ServiceHeartbeat(cloud.state.db, binary, host=host)
    await hb.beat()
    return hb


async def _services(cloud: Cloud, mv: str | None = None, query: str = "") -> list[dict]:  # type: ignore[type-arg]
    r = await cloud.client.get(
        f"{V}/os-services{query}", headers=cloud.headers(cloud.admin_token, mv)
    )
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"services"}
    return list(r.json()["services"])


async def test_list_shapes_per_microversion(cloud: Cloud) -> None:
    await _beat(cloud, SCHEDULER_BINARY)
    await _beat(cloud, CONDUCTOR_BINARY)
    h1 = await add_host(cloud, "hv-1", az="az1")
    await add_host(cloud, "hv-2", az="az2", stale=True)

    old = await _services(cloud)
    assert [(s["binary"], s["host"]) for s in old] == [
        (SCHEDULER_BINARY, "ctl-1"),
        (CONDUCTOR_BINARY, "ctl-1"),
        ("nova-compute", "hv-1"),
        ("nova-compute", "hv-2"),
    ]
    assert all(set(s) == BASE_KEYS for s in old)
    assert all(isinstance(s["id"], int) for s in old)
    assert len({s["id"] for s in old}) == 4
    assert old[0]["id"] > PROCESS_ID_BASE and old[2]["id"] == h1.id
    assert [s["zone"] for s in old] == ["internal", "internal", "az1", "az2"]
    assert [s["state"] for s in old] == ["up", "up", "up", "down"]
    assert all(s["status"] == "enabled" and s["disabled_reason"] is None for s in old)
    assert all(isinstance(s["updated_at"], str) for s in old)

    v211 = await _services(cloud, "2.11")
    assert all(set(s) == KEYS_211 and s["forced_down"] is False for s in v211)
    assert all(isinstance(s["id"], int) for s in v211)

    v253 = await _services(cloud, "2.53")
    assert all(set(s) == KEYS_211 for s in v253)
    assert v253[2]["id"] == h1.uuid
    for s in v253:
        uuid.UUID(s["id"])

    only = await _services(cloud, "2.53", "?binary=nova-compute&host=hv-2")
    assert [s["host"] for s in only] == ["hv-2"]
    only = await _services(cloud, None, f"?binary={CONDUCTOR_BINARY}")
    assert [s["binary"] for s in only] == [CONDUCTOR_BINARY]
    assert await _services(cloud, None, "?host=nowhere") == []


async def test_admin_only(cloud: Cloud) -> None:
    host = await add_host(cloud, "hv-1")
    demo53 = cloud.headers(cloud.demo_token, "2.53")
    r = await cloud.client.get(f"{V}/os-services", headers=cloud.demo)
    assert r.status_code == 403 and set(r.json()) == {"forbidden"}
    assert r.json()["forbidden"]["code"] == 403
    r = await cloud.client.put(
        f"{V}/os-services/{host.uuid}", json={"status": "disabled"}, headers=demo53
    )
    assert r.status_code == 403
    r = await cloud.client.put(
        f"{V}/os-services/disable",
        json={"host": "hv-1", "binary": "nova-compute"},
        headers=cloud.demo,
    )
    assert r.status_code == 403
    r = await cloud.client.delete(f"{V}/os-services/{host.uuid}", headers=demo53)
    assert r.status_code == 403


async def test_update_253(cloud: Cloud) -> None:
    host = await add_host(cloud, "hv-1", az="az1")
    h = cloud.headers(cloud.admin_token, "2.53")
    url = f"{V}/os-services/{host.uuid}"
    r = await cloud.client.put(
        url, json={"status": "disabled", "disabled_reason": "maintenance"}, headers=h
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"service"}
    assert set(body["service"]) == KEYS_211
    assert body["service"]["id"] == host.uuid
    assert body["service"]["status"] == "disabled"
    assert body["service"]["disabled_reason"] == "maintenance"
    assert body["service"]["zone"] == "az1"
    r = await cloud.client.put(url, json={"forced_down": True}, headers=h)
    assert r.json()["service"]["forced_down"] is True
    assert r.json()["service"]["state"] == "down"
    assert r.json()["service"]["status"] == "disabled"
    r = await cloud.client.put(url, json={"status": "enabled", "forced_down": False}, headers=h)
    svc = r.json()["service"]
    assert (svc["status"], svc["disabled_reason"], svc["state"]) == ("enabled", None, "up")
    # The hypervisor view agrees.
    r = await cloud.client.get(f"{V}/os-hypervisors/{host.uuid}", headers=h)
    assert r.json()["hypervisor"]["status"] == "enabled"

    async def bad(body: object, code: int = 400, where: str = url) -> str:
        r = await cloud.client.put(where, json=body, headers=h)
        assert r.status_code == code, (body, r.text)
        key = {400: "badRequest", 404: "itemNotFound"}[code]
        assert set(r.json()) == {key} and set(r.json()[key]) == {"message", "code"}
        return str(r.json()[key]["message"])

    assert "No updates" in await bad({})
    assert "disabled_reason" in await bad({"status": "enabled", "disabled_reason": "x"})
    assert "status" in await bad({"status": "off"})
    assert "forced_down" in await bad({"forced_down": "yes"})
    assert "host" in await bad({"status": "disabled", "host": "hv-1"})
    await bad({"status": "disabled"}, where=f"{V}/os-services/1")
    await bad({"status": "disabled"}, 404, f"{V}/os-services/{uuid.uuid4()}")
    # Only nova-compute services can be updated from 2.53.
    await _beat(cloud, CONDUCTOR_BINARY)
    conductor = (await _services(cloud, "2.53", f"?binary={CONDUCTOR_BINARY}"))[0]
    assert "nova-conductor" in await bad(
        {"status": "disabled"}, where=f"{V}/os-services/{conductor['id']}"
    )
    # The old actions are gone from 2.53 (the name is not a uuid).
    await bad({"host": "hv-1", "binary": "nova-compute"}, where=f"{V}/os-services/disable")


async def test_legacy_actions(cloud: Cloud) -> None:
    await add_host(cloud, "hv-1")
    await _beat(cloud, SCHEDULER_BINARY)
    target = {"host": "hv-1", "binary": "nova-compute"}

    async def put(action: str, body: object, mv: str | None = None, code: int = 200) -> dict:  # type: ignore[type-arg]
        r = await cloud.client.put(
            f"{V}/os-services/{action}", json=body, headers=cloud.headers(cloud.admin_token, mv)
        )
        assert r.status_code == code, (action, body, r.text)
        return dict(r.json())

    body = await put("disable", target)
    assert body == {"service": {"host": "hv-1", "binary": "nova-compute", "status": "disabled"}}
    body = await put("enable", target)
    assert body == {"service": {"host": "hv-1", "binary": "nova-compute", "status": "enabled"}}
    body = await put("disable-log-reason", {**target, "disabled_reason": "fan"})
    assert body == {
        "service": {
            "host": "hv-1",
            "binary": "nova-compute",
            "status": "disabled",
            "disabled_reason": "fan",
        }
    }
    listed = (await _services(cloud, None, "?binary=nova-compute"))[0]
    assert (listed["status"], listed["disabled_reason"]) == ("disabled", "fan")
    await put("disable-log-reason", target, code=400)
    # force-down is 2.11+.
    await put("force-down", {**target, "forced_down": True}, code=404)
    body = await put("force-down", {**target, "forced_down": True}, "2.11")
    assert body == {"service": {"host": "hv-1", "binary": "nova-compute", "forced_down": True}}
    listed = (await _services(cloud, "2.11", "?binary=nova-compute"))[0]
    assert listed["forced_down"] is True and listed["state"] == "down"
    await put("force-down", target, "2.11", code=400)
    # Any binary may be disabled with the old form.
    body = await put("disable", {"host": "ctl-1", "binary": SCHEDULER_BINARY})
    assert body["service"]["status"] == "disabled"
    listed = (await _services(cloud, None, f"?binary={SCHEDULER_BINARY}"))[0]
    assert listed["status"] == "disabled"
    await put("disable", {"host": "nope", "binary": "nova-compute"}, code=404)
    await put("disable", {"host": "hv-1"}, code=400)
    await put("reboot", target, code=404)


async def test_delete(cloud: Cloud) -> None:
    busy = await add_host(cloud, "hv-busy")
    idle = await add_host(cloud, "hv-idle")
    async with cloud.state.db.session() as s:
        s.add(Instance(name="vm", project_id="p", user_id="u", flavor_id="f", host="hv-busy"))
        agg = Aggregate(name="agg")
        s.add(agg)
        await s.flush()
        s.add(AggregateHost(aggregate_id=agg.id, host_name="hv-idle"))
    h = cloud.headers(cloud.admin_token, "2.53")
    r = await cloud.client.delete(f"{V}/os-services/{busy.uuid}", headers=h)
    assert r.status_code == 409 and r.json()["conflictingRequest"]["code"] == 409
    r = await cloud.client.delete(f"{V}/os-services/{idle.uuid}", headers=h)
    assert r.status_code == 204 and r.content == b""
    r = await cloud.client.delete(f"{V}/os-services/{idle.uuid}", headers=h)
    assert r.status_code == 404
    r = await cloud.client.delete(f"{V}/os-services/not-a-uuid", headers=h)
    assert r.status_code == 400
    async with cloud.state.db.session() as s:
        assert await s.scalar(select(Host).where(Host.name == "hv-idle")) is None
        assert (await s.scalars(select(AggregateHost))).all() == []
    # Before 2.53, integer ids; a conductor row goes too.
    await _beat(cloud, CONDUCTOR_BINARY)
    conductor = (await _services(cloud, None, f"?binary={CONDUCTOR_BINARY}"))[0]
    r = await cloud.client.delete(f"{V}/os-services/{conductor['id']}", headers=cloud.admin)
    assert r.status_code == 204
    assert await _services(cloud, None, f"?binary={CONDUCTOR_BINARY}") == []
    r = await cloud.client.delete(f"{V}/os-services/{busy.uuid}", headers=cloud.admin)
    assert r.status_code == 400


async def test_state_follows_heartbeats(cloud: Cloud) -> None:
    """A process that stops beating turns down after the down time; beating again, up."""
    hb = await _beat(cloud, SCHEDULER_BINARY)
    await hb.beat()  # a second beat updates the one row
    assert [s["state"] for s in await _services(cloud)] == ["up"]
    async with cloud.state.db.session() as s:
        row = await s.scalar(select(Service))
        assert row is not None
        row.last_seen = utcnow() - timedelta(seconds=61)
    assert [s["state"] for s in await _services(cloud)] == ["down"]
    await hb.beat()
    assert [s["state"] for s in await _services(cloud)] == ["up"]
    # Compute services follow their agents' reports in the same way.
    await add_host(cloud, "hv-1", stale=True)
    listed = await _services(cloud, None, "?binary=nova-compute")
    assert listed[0]["state"] == "down"


async def test_heartbeat_loop_starts_and_stops(cloud: Cloud) -> None:
    hb = ServiceHeartbeat(cloud.state.db, CONDUCTOR_BINARY, host="ctl-9", interval=0.01)
    await hb.start()
    try:
        async with cloud.state.db.session() as s:
            first = await s.scalar(select(Service.last_seen))
        assert first is not None
    finally:
        await hb.stop()
    await hb.stop()  # twice is fine
    async with cloud.state.db.session() as s:
        assert len((await s.scalars(select(Service))).all()) == 1
