"""accessIPv4/v6 (validated, kept in canonical form) and the metadata_items quota."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from stockyard.db.models import Instance, Quota
from tests.conftest import Cloud
from tests.servers_api.conftest import Seed, server_body

MV = "2.79"
V = "/compute/v2.1"


async def _create(cloud: Cloud, seed: Seed, **extra: Any) -> Any:
    return await cloud.client.post(
        f"{V}/servers", json=server_body(seed, **extra), headers=cloud.headers(cloud.demo_token, MV)
    )


async def test_access_ips_are_normalised(cloud: Cloud, seed: Seed) -> None:
    h = cloud.headers(cloud.demo_token, MV)
    r = await _create(
        cloud, seed, accessIPv4="1.1.1.1", accessIPv6="0000:0000:0000:0000:0000:babe:220.12.22.2"
    )
    assert r.status_code == 202, r.text
    sid = r.json()["server"]["id"]
    server = (await cloud.client.get(f"{V}/servers/{sid}", headers=h)).json()["server"]
    assert (server["accessIPv4"], server["accessIPv6"]) == ("1.1.1.1", "::babe:dc0c:1602")
    r = await cloud.client.put(
        f"{V}/servers/{sid}",
        json={"server": {"accessIPv4": "2.2.2.2", "accessIPv6": "2001:DB8:0:0::1"}},
        headers=h,
    )
    assert r.status_code == 200, r.text
    assert (r.json()["server"]["accessIPv4"], r.json()["server"]["accessIPv6"]) == (
        "2.2.2.2",
        "2001:db8::1",
    )


async def test_bad_access_ips_are_refused_naming_the_field(cloud: Cloud, seed: Seed) -> None:
    h = cloud.headers(cloud.demo_token, MV)
    for field, value in (
        ("accessIPv4", "1.1.1.1.1"),
        ("accessIPv4", "::1"),
        ("accessIPv6", "1.1.1.1"),
        ("accessIPv6", "babe::zz"),
    ):
        r = await _create(cloud, seed, **{field: value})
        assert r.status_code == 400, (field, value)
        assert field in r.json()["badRequest"]["message"]
    ok = await _create(cloud, seed)
    sid = ok.json()["server"]["id"]
    r = await cloud.client.put(
        f"{V}/servers/{sid}", json={"server": {"accessIPv6": "nope"}}, headers=h
    )
    assert r.status_code == 400 and "accessIPv6" in r.json()["badRequest"]["message"]
    async with cloud.state.db.session() as session:
        await session.execute(
            update(Instance).where(Instance.uuid == sid).values(vm_state="active", task_state=None)
        )
    body = {"rebuild": {"imageRef": seed.image_id, "accessIPv4": "300.1.1.1"}}
    r = await cloud.client.post(f"{V}/servers/{sid}/action", json=body, headers=h)
    assert r.status_code == 400 and "accessIPv4" in r.json()["badRequest"]["message"]


async def test_rebuild_sets_access_ips(cloud: Cloud, seed: Seed) -> None:
    h = cloud.headers(cloud.demo_token, MV)
    sid = (await _create(cloud, seed)).json()["server"]["id"]
    async with cloud.state.db.session() as session:
        await session.execute(
            update(Instance)
            .where(Instance.uuid == sid)
            .values(vm_state="active", task_state=None, host="h0")
        )
    body = {"rebuild": {"imageRef": seed.image_id, "accessIPv4": "3.3.3.3", "accessIPv6": "::1"}}
    r = await cloud.client.post(f"{V}/servers/{sid}/action", json=body, headers=h)
    assert r.status_code == 202, r.text
    assert (r.json()["server"]["accessIPv4"], r.json()["server"]["accessIPv6"]) == (
        "3.3.3.3",
        "::1",
    )


async def _limit_metadata(cloud: Cloud, limit: int) -> None:
    async with cloud.state.db.session() as session:
        session.add(
            Quota(
                project_id=cloud.seeded.demo_project_id, resource="metadata_items", hard_limit=limit
            )
        )


async def test_create_over_the_metadata_quota_is_403(cloud: Cloud, seed: Seed) -> None:
    await _limit_metadata(cloud, 3)
    limits = await cloud.client.get(f"{V}/limits", headers=cloud.headers(cloud.demo_token, MV))
    assert limits.json()["limits"]["absolute"]["maxServerMeta"] == 3
    r = await _create(cloud, seed, metadata={str(i): str(i) for i in range(4)})
    assert r.status_code == 403
    assert r.json()["forbidden"]["message"] == "Maximum number of metadata items exceeds 3"
    async with cloud.state.db.session() as session:
        assert (await session.scalars(select(Instance))).all() == []
    r = await _create(cloud, seed, metadata={str(i): str(i) for i in range(3)})
    assert r.status_code == 202, r.text


async def test_metadata_routes_count_against_the_quota(cloud: Cloud, seed: Seed) -> None:
    h = cloud.headers(cloud.demo_token, MV)
    await _limit_metadata(cloud, 2)
    sid = (await _create(cloud, seed, metadata={"a": "1"})).json()["server"]["id"]
    url = f"{V}/servers/{sid}/metadata"
    r = await cloud.client.post(url, json={"metadata": {"b": "2", "c": "3"}}, headers=h)
    assert r.status_code == 403
    assert "Maximum number of metadata items exceeds 2" in r.json()["forbidden"]["message"]
    r = await cloud.client.put(f"{url}/b", json={"meta": {"b": "2"}}, headers=h)
    assert r.status_code == 200
    r = await cloud.client.put(f"{url}/c", json={"meta": {"c": "3"}}, headers=h)
    assert r.status_code == 403
    # Replacing all of it is counted as the new set, not added to the old one.
    r = await cloud.client.put(url, json={"metadata": {"x": "1", "y": "2"}}, headers=h)
    assert r.status_code == 200 and r.json()["metadata"] == {"x": "1", "y": "2"}
