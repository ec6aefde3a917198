"""Servers API behaviour a user sees, without a conductor behind it."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from stockyard.api.compute import server_list
from stockyard.db.models import Instance, InstanceAction
from tests.conftest import Cloud
from tests.servers_api.conftest import Seed, server_body

MV = "2.79"


async def test_create_returns_202_and_build(cloud: Cloud, seed: Seed) -> None:
    h = cloud.headers(cloud.demo_token, MV)
    r = await cloud.client.post("/compute/v2.1/servers", json=server_body(seed), headers=h)
    assert r.status_code == 202, r.text
    sid = r.json()["server"]["id"]
    assert r.json()["server"]["adminPass"]
    shown = await cloud.client.get(f"/compute/v2.1/servers/{sid}", headers=h)
    body = shown.json()["server"]
    assert body["status"] == "BUILD"
    assert body["flavor"]["original_name"] == "m1.small"
    assert "OS-EXT-SRV-ATTR:host" not in body  # admin-only attribute
    actions = await cloud.client.get(f"/compute/v2.1/servers/{sid}/os-instance-actions", headers=h)
    assert [a["action"] for a in actions.json()["instanceActions"]] == ["create"]


async def test_multi_create_names_and_reservation(cloud: Cloud, seed: Seed) -> None:
    h = cloud.headers(cloud.demo_token, MV)
    body = server_body(seed, name="web", min_count=3, max_count=3, return_reservation_id=True)
    r = await cloud.client.post("/compute/v2.1/servers", json=body, headers=h)
    assert r.status_code == 202
    rid = r.json()["reservation_id"]
    listed = await cloud.client.get(f"/compute/v2.1/servers?reservation_id={rid}", headers=h)
    assert sorted(s["name"] for s in listed.json()["servers"]) == ["web-1", "web-2", "web-3"]


async def test_bad_bodies_name_the_field_and_write_nothing(cloud: Cloud, seed: Seed) -> None:
    h = cloud.headers(cloud.demo_token, MV)
    cases = [
        ({"server": {"name": "x", "imageRef": seed.image_id, "networks": "auto"}}, "flavorRef"),
        (server_body(seed, flavorRef="nope"), "Flavor nope could not be found"),
        (server_body(seed, imageRef="nope"), "Image nope could not be found"),
        (server_body(seed, key_name="missing"), "key_name"),
        (server_body(seed, min_count=0), "min_count"),
        (server_body(seed, min_count=3, max_count=2), "min_count"),
        (server_body(seed, availability_zone="nowhere"), "availability zone"),
        (server_body(seed, bogus=1), "bogus"),
        ({"server": {"name": "x", "flavorRef": "f1", "imageRef": seed.image_id}}, "networks"),
        (server_body(seed, user_data="not base64!"), "user_data"),
    ]
    for body, needle in cases:
        r = await cloud.client.post("/compute/v2.1/servers", json=body, headers=h)
        assert r.status_code == 400, (body, r.text)
        assert needle in r.json()["badRequest"]["message"], (needle, r.text)
    async with cloud.state.db.session() as session:
        assert (await session.scalars(select(Instance))).all() == []
        assert (await session.scalars(select(InstanceAction))).all() == []


async def test_forced_host_is_admin_only(cloud: Cloud, seed: Seed) -> None:
    body = server_body(seed, availability_zone="az1:h1")
    r = await cloud.client.post(
        "/compute/v2.1/servers", json=body, headers=cloud.headers(cloud.demo_token, MV)
    )
    assert r.status_code == 403
    r = await cloud.client.post(
        "/compute/v2.1/servers", json=body, headers=cloud.headers(cloud.admin_token, MV)
    )
    assert r.status_code == 202


async def test_quota_exceeded_names_the_quota(cloud: Cloud, seed: Seed) -> None:
    h = cloud.headers(cloud.demo_token, MV)
    body = server_body(seed, min_count=11, max_count=11)
    r = await cloud.client.post("/compute/v2.1/servers", json=body, headers=h)
    assert r.status_code == 403
    assert "Quota exceeded for instances" in r.json()["forbidden"]["message"]
    body = server_body(seed, min_count=2, max_count=50)
    r = await cloud.client.post("/compute/v2.1/servers", json=body, headers=h)
    assert r.status_code == 202  # Nova lowers max_count to what the quota allows


async def test_isolation_between_projects(cloud: Cloud, seed: Seed) -> None:
    r = await cloud.client.post(
        "/compute/v2.1/servers",
        json=server_body(seed),
        headers=cloud.headers(cloud.admin_token, MV),
    )
    sid = r.json()["server"]["id"]
    demo = cloud.headers(cloud.demo_token, MV)
    assert (await cloud.client.get(f"/compute/v2.1/servers/{sid}", headers=demo)).status_code == 404
    listed = await cloud.client.get("/compute/v2.1/servers/detail", headers=demo)
    assert listed.json()["servers"] == []
    r = await cloud.client.delete(f"/compute/v2.1/servers/{sid}", headers=demo)
    assert r.status_code == 404
    r = await cloud.client.get("/compute/v2.1/servers?all_tenants=1", headers=demo)
    assert r.status_code == 403


async def test_actions_check_state(cloud: Cloud, seed: Seed) -> None:
    h = cloud.headers(cloud.demo_token, MV)
    sid = (
        await cloud.client.post("/compute/v2.1/servers", json=server_body(seed), headers=h)
    ).json()["server"]["id"]
    r = await cloud.client.post(
        f"/compute/v2.1/servers/{sid}/action", json={"os-stop": None}, headers=h
    )
    assert r.status_code == 409
    assert (
        "vm_state building" in r.json()["conflictingRequest"]["message"] or "task_state" in r.text
    )
    r = await cloud.client.post(
        f"/compute/v2.1/servers/{sid}/action", json={"reboot": {"type": "SIDEWAYS"}}, headers=h
    )
    assert r.status_code == 400 and "reboot.type" in r.json()["badRequest"]["message"]
    r = await cloud.client.post(
        f"/compute/v2.1/servers/{sid}/action", json={"explode": {}}, headers=h
    )
    assert r.status_code == 400
    async with cloud.state.db.session() as session:
        inst = await session.scalar(select(Instance).where(Instance.uuid == sid))
        assert inst is not None
        inst.vm_state, inst.task_state = "active", None
    # Nova's check_instance_host: an unplaced server is "not ready" for power actions.
    r = await cloud.client.post(
        f"/compute/v2.1/servers/{sid}/action", json={"reboot": {"type": "HARD"}}, headers=h
    )
    assert r.status_code == 409
    assert r.json()["conflictingRequest"]["message"] == f"Instance {sid} is not ready"
    async with cloud.state.db.session() as session:
        inst = await session.scalar(select(Instance).where(Instance.uuid == sid))
        assert inst is not None
        inst.host = "regionone-az1-r1-hv01"
    r = await cloud.client.post(
        f"/compute/v2.1/servers/{sid}/action", json={"reboot": {"type": "HARD"}}, headers=h
    )
    assert r.status_code == 202
    shown = (await cloud.client.get(f"/compute/v2.1/servers/{sid}", headers=h)).json()
    assert shown["server"]["status"] == "HARD_REBOOT"
    r = await cloud.client.delete(f"/compute/v2.1/servers/{sid}", headers=h)
    assert r.status_code == 204


async def test_list_paging_and_filters(cloud: Cloud, seed: Seed) -> None:
    h = cloud.headers(cloud.demo_token, MV)
    body = server_body(seed, name="p", min_count=5, max_count=5)
    await cloud.client.post("/compute/v2.1/servers", json=body, headers=h)
    first = await cloud.client.get("/compute/v2.1/servers?limit=2", headers=h)
    page = first.json()
    assert len(page["servers"]) == 2 and page["servers_links"][0]["rel"] == "next"
    marker = page["servers"][-1]["id"]
    rest = await cloud.client.get(f"/compute/v2.1/servers?marker={marker}", headers=h)
    ids = [s["id"] for s in page["servers"]] + [s["id"] for s in rest.json()["servers"]]
    assert len(set(ids)) == 5
    r = await cloud.client.get("/compute/v2.1/servers?name=^p-3$", headers=h)
    assert [s["name"] for s in r.json()["servers"]] == ["p-3"]
    r = await cloud.client.get("/compute/v2.1/servers?status=ACTIVE", headers=h)
    assert r.json()["servers"] == []
    r = await cloud.client.get("/compute/v2.1/servers?status=BOGUS", headers=h)
    assert r.status_code == 400
    r = await cloud.client.get("/compute/v2.1/servers?limit=x", headers=h)
    assert r.status_code == 400
    r = await cloud.client.get(
        "/compute/v2.1/servers/detail?changes-since=2000-01-01T00:00:00Z", headers=h
    )
    assert len(r.json()["servers"]) == 5


async def test_create_response_has_novas_keys_only(cloud: Cloud, seed: Seed) -> None:
    """Tempest's create_server schema forbids extra keys (``name`` broke its set-ups)."""
    h = cloud.headers(cloud.demo_token, MV)
    r = await cloud.client.post("/compute/v2.1/servers", json=server_body(seed), headers=h)
    assert r.status_code == 202
    server = r.json()["server"]
    assert set(server) == {"id", "links", "OS-DCF:diskConfig", "security_groups", "adminPass"}
    assert r.headers["Location"] == server["links"][0]["href"]


async def test_pages_are_capped_and_the_next_link_keeps_the_query(
    cloud: Cloud, seed: Seed, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nova's max_limit caps a page asked without limit, and its next link repeats the
    # query (filters, sort) with the marker: a client following it keeps its filters.
    monkeypatch.setattr(server_list, "MAX_LIMIT", 3)
    h = cloud.headers(cloud.demo_token, MV)
    body = server_body(seed, name="q", min_count=5, max_count=5)
    await cloud.client.post("/compute/v2.1/servers", json=body, headers=h)
    other = server_body(seed, name="other")
    await cloud.client.post("/compute/v2.1/servers", json=other, headers=h)
    page = (await cloud.client.get("/compute/v2.1/servers/detail?name=^q-", headers=h)).json()
    assert len(page["servers"]) == 3
    (link,) = page["servers_links"]
    href = urlsplit(link["href"])
    query = parse_qs(href.query)
    assert href.path == "/compute/v2.1/servers/detail"
    assert query["name"] == ["^q-"] and query["marker"] == [page["servers"][-1]["id"]]
    rest = (await cloud.client.get(f"{href.path}?{href.query}", headers=h)).json()
    names = [s["name"] for s in page["servers"] + rest["servers"]]
    assert sorted(names) == ["q-1", "q-2", "q-3", "q-4", "q-5"]
    assert "servers_links" not in rest
