"""Server tags (2.26+), os-server-password, metadata items, forceDelete/restore,
injectNetworkInfo and the status filter's unknown values, as Nova answers them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from stockyard.db.models import Instance
from tests.conftest import Cloud
from tests.servers_api.conftest import Seed, server_body

V = "/compute/v2.1"


async def _server(cloud: Cloud, seed: Seed, **state: Any) -> str:
    h = cloud.headers(cloud.demo_token, "2.79")
    r = await cloud.client.post(f"{V}/servers", json=server_body(seed), headers=h)
    assert r.status_code == 202, r.text
    sid = str(r.json()["server"]["id"])
    if state:
        async with cloud.state.db.session() as session:
            await session.execute(update(Instance).where(Instance.uuid == sid).values(**state))
    return sid


async def test_tags_lifecycle(cloud: Cloud, seed: Seed) -> None:
    sid = await _server(cloud, seed, vm_state="active")
    h = cloud.headers(cloud.demo_token, "2.26")
    tags = f"{V}/servers/{sid}/tags"
    assert (await cloud.client.get(tags, headers=h)).json() == {"tags": []}
    added = await cloud.client.put(f"{tags}/blue", headers=h)
    assert added.status_code == 201 and added.content == b""
    assert added.headers["Location"].endswith(f"/compute/v2.1/servers/{sid}/tags/blue")
    assert (await cloud.client.put(f"{tags}/blue", headers=h)).status_code == 204
    assert (await cloud.client.get(f"{tags}/blue", headers=h)).status_code == 204
    missing = await cloud.client.get(f"{tags}/red", headers=h)
    assert missing.status_code == 404 and "red" in missing.json()["itemNotFound"]["message"]
    r = await cloud.client.put(tags, json={"tags": ["a", "b", "a"]}, headers=h)
    assert r.status_code == 200 and r.json() == {"tags": ["a", "b"]}
    server = (await cloud.client.get(f"{V}/servers/{sid}", headers=h)).json()["server"]
    assert server["tags"] == ["a", "b"]
    assert (await cloud.client.delete(f"{tags}/a", headers=h)).status_code == 204
    assert (await cloud.client.delete(f"{tags}/a", headers=h)).status_code == 404
    assert (await cloud.client.delete(tags, headers=h)).status_code == 204
    assert (await cloud.client.get(tags, headers=h)).json() == {"tags": []}


async def test_tags_refusals(cloud: Cloud, seed: Seed) -> None:
    sid = await _server(cloud, seed, vm_state="active")
    tags = f"{V}/servers/{sid}/tags"
    h = cloud.headers(cloud.demo_token, "2.26")
    # Before 2.26 the resource does not exist.
    old = await cloud.client.get(tags, headers=cloud.headers(cloud.demo_token, "2.25"))
    assert old.status_code == 404
    for bad in ({"tags": ["a/b"]}, {"tags": ["x" * 61]}, {"tags": "a"}, {"tag": []}, [1]):
        r = await cloud.client.put(tags, json=bad, headers=h)
        assert r.status_code == 400, bad
        assert "tags" in r.json()["badRequest"]["message"]
    r = await cloud.client.put(tags, json={"tags": [f"t{i}" for i in range(51)]}, headers=h)
    assert r.status_code == 400 and "per-server limit 50" in r.json()["badRequest"]["message"]
    assert (await cloud.client.put(f"{tags}/a,b", headers=h)).status_code == 400
    # Tags change only on a settled server.
    building = await _server(cloud, seed)
    r = await cloud.client.put(f"{V}/servers/{building}/tags/x", headers=h)
    assert r.status_code == 409 and "vm_state building" in r.json()["conflictingRequest"]["message"]


async def test_server_password_and_metadata_item(cloud: Cloud, seed: Seed) -> None:
    sid = await _server(cloud, seed, vm_state="active")
    h = cloud.demo
    pw = await cloud.client.get(f"{V}/servers/{sid}/os-server-password", headers=h)
    assert pw.status_code == 200 and pw.json() == {"password": ""}
    cleared = await cloud.client.delete(f"{V}/servers/{sid}/os-server-password", headers=h)
    assert cleared.status_code == 204
    gone = await cloud.client.get(f"{V}/servers/nope/os-server-password", headers=h)
    assert gone.status_code == 404
    meta = f"{V}/servers/{sid}/metadata"
    assert (await cloud.client.put(meta, json={"metadata": {"k": "v"}}, headers=h)).is_success
    item = await cloud.client.get(f"{meta}/k", headers=h)
    assert item.status_code == 200 and item.json() == {"meta": {"k": "v"}}
    missing = await cloud.client.get(f"{meta}/nope", headers=h)
    assert missing.status_code == 404
    assert missing.json()["itemNotFound"]["message"] == "Metadata item was not found"


async def _action(cloud: Cloud, sid: str, token: str, body: Any) -> Any:
    return await cloud.client.post(
        f"{V}/servers/{sid}/action", json=body, headers=cloud.headers(token, "2.1")
    )


async def test_force_delete_restore_and_inject_network_info(cloud: Cloud, seed: Seed) -> None:
    sid = await _server(cloud, seed, vm_state="active", host="h0")
    for action in ("forceDelete", "restore"):
        r = await _action(cloud, "no-such-server", cloud.demo_token, {action: None})
        assert r.status_code == 404, action
    r = await _action(cloud, sid, cloud.demo_token, {"restore": None})
    assert r.status_code == 409
    assert "Cannot 'restore'" in r.json()["conflictingRequest"]["message"]
    # injectNetworkInfo is the admin's: it leaves the host a port sync to do.
    r = await _action(cloud, sid, cloud.demo_token, {"injectNetworkInfo": None})
    assert r.status_code == 403
    async with cloud.state.db.session() as session:
        before = await session.scalar(select(Instance.ports_rev).where(Instance.uuid == sid))
    r = await _action(cloud, sid, cloud.admin_token, {"injectNetworkInfo": None})
    assert r.status_code == 202
    async with cloud.state.db.session() as session:
        after = await session.scalar(select(Instance.ports_rev).where(Instance.uuid == sid))
    assert after == (before or 0) + 1
    unplaced = await _server(cloud, seed)
    r = await _action(cloud, unplaced, cloud.admin_token, {"injectNetworkInfo": None})
    assert r.status_code == 409 and "is not ready" in r.json()["conflictingRequest"]["message"]
    # forceDelete deletes whatever the vm_state.
    r = await _action(cloud, sid, cloud.demo_token, {"forceDelete": None})
    assert r.status_code == 202
    async with cloud.state.db.session() as session:
        task = await session.scalar(select(Instance.task_state).where(Instance.uuid == sid))
    assert task == "deleting"


async def test_unknown_status_filter_matches_nothing_until_2_38(cloud: Cloud, seed: Seed) -> None:
    await _server(cloud, seed, vm_state="active")
    for path in ("/servers", "/servers/detail"):
        r = await cloud.client.get(
            f"{V}{path}?status=no_such_status", headers=cloud.headers(cloud.demo_token, "2.37")
        )
        assert r.status_code == 200 and r.json()["servers"] == [], path
        r = await cloud.client.get(
            f"{V}{path}?status=no_such_status", headers=cloud.headers(cloud.demo_token, "2.38")
        )
        assert r.status_code == 400
        assert r.json()["badRequest"]["message"] == "Invalid status value"
    ok = await cloud.client.get(f"{V}/servers?status=ACTIVE", headers=cloud.demo)
    assert len(ok.json()["servers"]) == 1


async def test_progress_only_in_the_statuses_nova_shows_it(cloud: Cloud, seed: Seed) -> None:
    stopped = await _server(cloud, seed, vm_state="stopped", host="h0")
    active = await _server(cloud, seed, vm_state="active", host="h0")
    building = await _server(cloud, seed)
    show = {
        sid: (await cloud.client.get(f"{V}/servers/{sid}", headers=cloud.demo)).json()["server"]
        for sid in (stopped, active, building)
    }
    assert "progress" not in show[stopped]
    assert show[active]["progress"] == 100 and show[building]["progress"] == 0
    renamed = await cloud.client.put(
        f"{V}/servers/{stopped}", json={"server": {"name": "Íñstáñcé"}}, headers=cloud.demo
    )
    assert renamed.status_code == 200 and "progress" not in renamed.json()["server"]


async def test_disk_config_set_at_create_update_and_rebuild(cloud: Cloud, seed: Seed) -> None:
    h = cloud.demo
    body = server_body(seed, **{"OS-DCF:diskConfig": "AUTO"})
    r = await cloud.client.post(f"{V}/servers", json=body, headers=h)
    assert r.status_code == 202 and r.json()["server"]["OS-DCF:diskConfig"] == "AUTO"
    sid = r.json()["server"]["id"]
    show = (await cloud.client.get(f"{V}/servers/{sid}", headers=h)).json()["server"]
    assert show["OS-DCF:diskConfig"] == "AUTO"
    upd = await cloud.client.put(
        f"{V}/servers/{sid}", json={"server": {"OS-DCF:diskConfig": "MANUAL"}}, headers=h
    )
    assert upd.status_code == 200 and upd.json()["server"]["OS-DCF:diskConfig"] == "MANUAL"
    async with cloud.state.db.session() as session:
        await session.execute(
            update(Instance)
            .where(Instance.uuid == sid)
            .values(vm_state="active", task_state=None, host="h0")
        )
    rebuild = {"rebuild": {"imageRef": seed.image_id, "OS-DCF:diskConfig": "AUTO"}}
    r = await cloud.client.post(f"{V}/servers/{sid}/action", json=rebuild, headers=h)
    assert r.status_code == 202 and r.json()["server"]["OS-DCF:diskConfig"] == "AUTO"
    bad = server_body(seed, **{"OS-DCF:diskConfig": "SOMETIMES"})
    r = await cloud.client.post(f"{V}/servers", json=bad, headers=h)
    assert r.status_code == 400 and "diskConfig" in r.json()["badRequest"]["message"]


async def test_create_answers_nova_request_id_headers(cloud: Cloud, seed: Seed) -> None:
    r = await cloud.client.post(f"{V}/servers", json=server_body(seed), headers=cloud.demo)
    rid = r.headers["x-compute-request-id"]
    assert rid.startswith("req-") and rid == r.headers["x-openstack-request-id"]
    sid = r.json()["server"]["id"]
    action = await cloud.client.get(
        f"{V}/servers/{sid}/os-instance-actions/{rid}", headers=cloud.demo
    )
    assert action.status_code == 200 and action.json()["instanceAction"]["action"] == "create"
