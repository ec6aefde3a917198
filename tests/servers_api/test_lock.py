"""``lock``/``unlock``: who may lock and unlock, what a lock refuses, how it reads."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from stockyard.db.models import Instance
from tests.conftest import Cloud
from tests.servers_api.conftest import Seed, server_body

V = "/compute/v2.1"


async def _active_server(cloud: Cloud, seed: Seed) -> str:
    h = cloud.headers(cloud.demo_token, "2.73")
    r = await cloud.client.post(f"{V}/servers", json=server_body(seed), headers=h)
    assert r.status_code == 202, r.text
    sid = str(r.json()["server"]["id"])
    async with cloud.state.db.session() as session:
        await session.execute(
            update(Instance)
            .where(Instance.uuid == sid)
            .values(vm_state="active", task_state=None, host="h0")
        )
    return sid


async def _action(cloud: Cloud, sid: str, token: str, body: Any, mv: str = "2.73") -> Any:
    return await cloud.client.post(
        f"{V}/servers/{sid}/action", json=body, headers=cloud.headers(token, mv)
    )


async def _show(cloud: Cloud, sid: str, token: str, mv: str = "2.73") -> dict[str, Any]:
    r = await cloud.client.get(f"{V}/servers/{sid}", headers=cloud.headers(token, mv))
    assert r.status_code == 200, r.text
    return dict(r.json()["server"])


async def test_owner_lock_refuses_user_actions_until_unlocked(cloud: Cloud, seed: Seed) -> None:
    sid = await _active_server(cloud, seed)
    r = await _action(cloud, sid, cloud.demo_token, {"lock": {"locked_reason": "maintenance"}})
    assert r.status_code == 202 and r.content == b""
    server = await _show(cloud, sid, cloud.demo_token)
    assert (server["locked"], server["locked_reason"]) == (True, "maintenance")
    # Before 2.73 the field does not exist; 2.9 shows "locked".
    old = await _show(cloud, sid, cloud.demo_token, "2.9")
    assert old["locked"] is True and "locked_reason" not in old
    msg = f"Instance {sid} is locked"
    for body in ({"reboot": {"type": "SOFT"}}, {"os-stop": None}):
        r = await _action(cloud, sid, cloud.demo_token, body)
        assert r.status_code == 409 and r.json()["conflictingRequest"]["message"] == msg, body
    r = await cloud.client.delete(f"{V}/servers/{sid}", headers=cloud.demo)
    assert r.status_code == 409
    r = await cloud.client.post(
        f"{V}/servers/{sid}/metadata", json={"metadata": {"a": "b"}}, headers=cloud.demo
    )
    assert r.status_code == 409
    r = await cloud.client.delete(f"{V}/servers/{sid}/metadata/a", headers=cloud.demo)
    assert r.status_code == 409
    # The state did not move: the refusal comes before the lifecycle.
    assert (await _show(cloud, sid, cloud.demo_token))["status"] == "ACTIVE"
    # An admin is not held by the lock.
    r = await _action(cloud, sid, cloud.admin_token, {"os-stop": None})
    assert r.status_code == 202, r.text
    r = await _action(cloud, sid, cloud.demo_token, {"unlock": None})
    assert r.status_code == 202
    server = await _show(cloud, sid, cloud.demo_token)
    assert (server["locked"], server["locked_reason"]) == (False, None)
    r = await cloud.client.post(
        f"{V}/servers/{sid}/metadata", json={"metadata": {"a": "b"}}, headers=cloud.demo
    )
    assert r.status_code == 200
    r = await cloud.client.get(f"{V}/servers/{sid}/os-instance-actions", headers=cloud.demo)
    actions = [a["action"] for a in r.json()["instanceActions"]]
    assert actions.count("lock") == 1 and actions.count("unlock") == 1
    lock = next(a for a in r.json()["instanceActions"] if a["action"] == "lock")
    r = await cloud.client.get(
        f"{V}/servers/{sid}/os-instance-actions/{lock['request_id']}",
        headers=cloud.headers(cloud.admin_token, "2.73"),
    )
    events = r.json()["instanceAction"]["events"]
    assert [(e["event"], e["result"]) for e in events] == [("api_lock", "Success")]


async def test_admin_lock_is_lifted_only_by_admin(cloud: Cloud, seed: Seed) -> None:
    sid = await _active_server(cloud, seed)
    assert (await _action(cloud, sid, cloud.admin_token, {"lock": None})).status_code == 202
    server = await _show(cloud, sid, cloud.demo_token)
    assert (server["locked"], server["locked_reason"]) == (True, None)
    r = await _action(cloud, sid, cloud.demo_token, {"unlock": None})
    assert r.status_code == 403 and "unlock_override" in r.json()["forbidden"]["message"]
    # The owner re-locking an admin's lock changes nothing, and still cannot unlock.
    assert (await _action(cloud, sid, cloud.demo_token, {"lock": None})).status_code == 202
    assert (await _action(cloud, sid, cloud.demo_token, {"unlock": None})).status_code == 403
    assert (await _action(cloud, sid, cloud.admin_token, {"unlock": None})).status_code == 202
    assert (await _show(cloud, sid, cloud.demo_token))["locked"] is False


async def test_owner_lock_can_be_lifted_by_admin(cloud: Cloud, seed: Seed) -> None:
    sid = await _active_server(cloud, seed)
    assert (await _action(cloud, sid, cloud.demo_token, {"lock": None})).status_code == 202
    assert (await _action(cloud, sid, cloud.admin_token, {"unlock": None})).status_code == 202
    assert (await _show(cloud, sid, cloud.demo_token))["locked"] is False


async def test_lock_body_and_visibility(cloud: Cloud, seed: Seed) -> None:
    sid = await _active_server(cloud, seed)
    for bad in ({"locked_reason": ""}, {"locked_reason": "x" * 256}, {"other": 1}, "why"):
        r = await _action(cloud, sid, cloud.demo_token, {"lock": bad})
        assert r.status_code == 400, bad
    # Before 2.73 the value is not looked at (Nova had no schema for it).
    r = await _action(cloud, sid, cloud.demo_token, {"lock": {"locked_reason": ""}}, "2.72")
    assert r.status_code == 202
    assert (await _show(cloud, sid, cloud.demo_token))["locked_reason"] is None
    # Another project's server is not found, locked or not.
    admin_sid = await _active_server(cloud, seed)
    async with cloud.state.db.session() as session:
        await session.execute(
            update(Instance)
            .where(Instance.uuid == admin_sid)
            .values(project_id=cloud.seeded.admin_project_id)
        )
    r = await _action(cloud, admin_sid, cloud.demo_token, {"lock": None})
    assert r.status_code == 404
    assert (await _action(cloud, admin_sid, cloud.admin_token, {"lock": None})).status_code == 202
    async with cloud.state.db.session() as session:
        row = await session.scalar(select(Instance).where(Instance.uuid == admin_sid))
        # The admin locked a server of its own project: an owner's lock.
        assert row is not None and row.locked_by == "owner"


async def test_list_filter_locked(cloud: Cloud, seed: Seed) -> None:
    locked = await _active_server(cloud, seed)
    free = await _active_server(cloud, seed)
    assert (await _action(cloud, locked, cloud.demo_token, {"lock": None})).status_code == 202
    h = cloud.headers(cloud.demo_token, "2.73")
    for value, expected in (("true", [locked]), ("False", [free])):
        r = await cloud.client.get(f"{V}/servers?locked={value}", headers=h)
        assert [s["id"] for s in r.json()["servers"]] == expected, value
    r = await cloud.client.get(f"{V}/servers?locked=maybe", headers=h)
    assert r.status_code == 400
    # Before 2.73 the parameter is not a filter.
    r = await cloud.client.get(
        f"{V}/servers?locked=true", headers=cloud.headers(cloud.demo_token, "2.72")
    )
    assert {s["id"] for s in r.json()["servers"]} == {locked, free}
