"""2.90/2.94 ``hostname`` on create, update and rebuild; shown to users from 2.90."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from stockyard.db.models import Instance
from tests.conftest import Cloud
from tests.servers_api.conftest import Seed, server_body

URL = "/compute/v2.1/servers"
ATTR = "OS-EXT-SRV-ATTR:hostname"


async def _create(cloud: Cloud, seed: Seed, mv: str, **extra: Any) -> Any:
    h = cloud.headers(cloud.demo_token, mv)
    return await cloud.client.post(URL, json=server_body(seed, **extra), headers=h)


async def test_create_update_rebuild_with_hostname(cloud: Cloud, seed: Seed) -> None:
    r = await _create(cloud, seed, "2.90", hostname="web-01")
    assert r.status_code == 202, r.text
    sid = r.json()["server"]["id"]
    h = cloud.headers(cloud.demo_token, "2.90")
    shown = (await cloud.client.get(f"{URL}/{sid}", headers=h)).json()["server"]
    assert shown[ATTR] == "web-01" and shown["name"] == "vm"
    r = await cloud.client.put(f"{URL}/{sid}", json={"server": {"hostname": "web-02"}}, headers=h)
    assert r.status_code == 200 and r.json()["server"][ATTR] == "web-02"
    # Before 2.90 a user does not see it; an admin does (since 2.3).
    r = await cloud.client.get(f"{URL}/{sid}", headers=cloud.headers(cloud.demo_token, "2.89"))
    assert ATTR not in r.json()["server"]
    r = await cloud.client.get(f"{URL}/{sid}", headers=cloud.headers(cloud.admin_token, "2.89"))
    assert r.json()["server"][ATTR] == "web-02"
    listed = await cloud.client.get(f"{URL}/detail", headers=h)
    assert listed.json()["servers"][0][ATTR] == "web-02"
    # Without a hostname: derived from the name, as before.
    r = await _create(cloud, seed, "2.90", name="My Server")
    sid2 = r.json()["server"]["id"]
    shown = (await cloud.client.get(f"{URL}/{sid2}", headers=h)).json()["server"]
    assert shown[ATTR] == "my-server"


async def test_rebuild_sets_hostname(cloud: Cloud, seed: Seed) -> None:
    r = await _create(cloud, seed, "2.90")
    sid = r.json()["server"]["id"]
    async with cloud.state.db.session() as session:
        await session.execute(
            update(Instance)
            .where(Instance.uuid == sid)
            .values(vm_state="active", task_state=None, host="h0", node="h0")
        )
        await session.commit()
    h = cloud.headers(cloud.demo_token, "2.94")
    body = {"rebuild": {"imageRef": seed.image_id, "hostname": "db.example.org"}}
    r = await cloud.client.post(f"{URL}/{sid}/action", json=body, headers=h)
    assert r.status_code == 202, r.text
    assert r.json()["server"][ATTR] == "db.example.org"


async def test_hostname_rules_per_microversion(cloud: Cloud, seed: Seed) -> None:
    cases = [
        ("2.89", "web", "hostname"),  # not a property before 2.90
        ("2.90", "web.example.org", "hostname"),  # an FQDN only from 2.94
        ("2.90", "-web", "hostname"),
        ("2.90", "w", "hostname"),
        ("2.90", "x" * 64, "hostname"),
        ("2.94", "bad_name.example", "hostname"),
        ("2.94", "a." + "b" * 64, "hostname"),
        ("2.94", 12, "hostname"),
    ]
    for mv, hostname, text in cases:
        r = await _create(cloud, seed, mv, hostname=hostname)
        assert r.status_code == 400 and text in r.text, (mv, hostname, r.text)
    r = await _create(cloud, seed, "2.94", hostname="web.example.org.")
    assert r.status_code == 202, r.text
    r = await _create(cloud, seed, "2.90", hostname="web", min_count=2)
    assert r.status_code == 400 and "multiple" in r.text
    h = cloud.headers(cloud.demo_token, "2.89")
    sid = (await _create(cloud, seed, "2.89")).json()["server"]["id"]
    r = await cloud.client.put(f"{URL}/{sid}", json={"server": {"hostname": "x1"}}, headers=h)
    assert r.status_code == 400
