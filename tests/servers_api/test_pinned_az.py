"""2.96: ``pinned_availability_zone`` in server show, detail list, update and rebuild."""

from __future__ import annotations

from sqlalchemy import update

from stockyard.db.models import Instance
from tests.conftest import Cloud
from tests.servers_api.conftest import Seed, server_body

URL = "/compute/v2.1/servers"
KEY = "pinned_availability_zone"


async def test_pinned_zone_from_2_96(cloud: Cloud, seed: Seed) -> None:
    h = cloud.headers(cloud.demo_token, "2.96")
    pinned = await cloud.client.post(
        URL, json=server_body(seed, availability_zone="az1"), headers=h
    )
    free = await cloud.client.post(URL, json=server_body(seed, name="free"), headers=h)
    assert pinned.status_code == free.status_code == 202, pinned.text
    pid, fid = pinned.json()["server"]["id"], free.json()["server"]["id"]
    assert (await cloud.client.get(f"{URL}/{pid}", headers=h)).json()["server"][KEY] == "az1"
    assert (await cloud.client.get(f"{URL}/{fid}", headers=h)).json()["server"][KEY] is None
    listed = (await cloud.client.get(f"{URL}/detail", headers=h)).json()["servers"]
    assert {s["id"]: s[KEY] for s in listed} == {pid: "az1", fid: None}
    r = await cloud.client.put(f"{URL}/{pid}", json={"server": {"name": "n"}}, headers=h)
    assert r.json()["server"][KEY] == "az1"
    async with cloud.state.db.session() as session:
        await session.execute(
            update(Instance)
            .where(Instance.uuid == pid)
            .values(vm_state="active", task_state=None, host="h0", node="h0")
        )
        await session.commit()
    rebuild = {"rebuild": {"imageRef": seed.image_id}}
    r = await cloud.client.post(f"{URL}/{pid}/action", json=rebuild, headers=h)
    assert r.status_code == 202 and r.json()["server"][KEY] == "az1"
    old = await cloud.client.get(f"{URL}/{pid}", headers=cloud.headers(cloud.demo_token, "2.95"))
    assert KEY not in old.json()["server"]
