"""``os-resetState``: an admin's way out of any state, recorded as an instance action."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from stockyard.db.models import Instance
from tests.conftest import Cloud
from tests.servers_api.conftest import Seed, server_body

MV = "2.79"
V = "/compute/v2.1"


async def _server(cloud: Cloud, seed: Seed, **state: Any) -> str:
    h = cloud.headers(cloud.demo_token, MV)
    r = await cloud.client.post(f"{V}/servers", json=server_body(seed), headers=h)
    assert r.status_code == 202, r.text
    sid = str(r.json()["server"]["id"])
    if state:
        async with cloud.state.db.session() as session:
            await session.execute(update(Instance).where(Instance.uuid == sid).values(**state))
    return sid


async def _reset(cloud: Cloud, sid: str, token: str, body: Any) -> Any:
    return await cloud.client.post(
        f"{V}/servers/{sid}/action",
        json={"os-resetState": body},
        headers=cloud.headers(token, MV),
    )


async def _show(cloud: Cloud, sid: str) -> dict[str, Any]:
    r = await cloud.client.get(f"{V}/servers/{sid}", headers=cloud.headers(cloud.admin_token, MV))
    assert r.status_code == 200, r.text
    return dict(r.json()["server"])


async def test_reset_to_error_and_back_clears_the_task(cloud: Cloud, seed: Seed) -> None:
    # A server stuck in a reboot on a host: the admin sets it to error, then active.
    sid = await _server(
        cloud, seed, vm_state="active", task_state="rebooting", host="h0", lease_owner="op:x:1"
    )
    r = await _reset(cloud, sid, cloud.admin_token, {"state": "error"})
    assert r.status_code == 202 and r.content == b""
    server = await _show(cloud, sid)
    assert (server["status"], server["OS-EXT-STS:task_state"]) == ("ERROR", None)
    async with cloud.state.db.session() as session:
        row = await session.scalar(select(Instance).where(Instance.uuid == sid))
        # An op still in flight for the old task finds the lease gone: its result is stale.
        assert row is not None and row.lease_owner is None
    r = await _reset(cloud, sid, cloud.admin_token, {"state": "active"})
    assert r.status_code == 202
    assert (await _show(cloud, sid))["status"] == "ACTIVE"
    listed = await cloud.client.get(
        f"{V}/servers/{sid}/os-instance-actions", headers=cloud.headers(cloud.demo_token, MV)
    )
    actions = [a["action"] for a in listed.json()["instanceActions"]]
    assert actions.count("resetState") == 2 and "create" in actions
    # Out of ERROR, the user can delete it as usual.
    gone = await cloud.client.delete(f"{V}/servers/{sid}", headers=cloud.demo)
    assert gone.status_code == 204


async def test_reset_refusals(cloud: Cloud, seed: Seed) -> None:
    sid = await _server(cloud, seed)
    r = await _reset(cloud, sid, cloud.demo_token, {"state": "error"})
    assert r.status_code == 403 and "reset_state" in r.json()["forbidden"]["message"]
    assert (await _show(cloud, sid))["status"] == "BUILD"
    r = await _reset(cloud, "999", cloud.admin_token, {"state": "error"})
    assert r.status_code == 404 and "999" in r.json()["itemNotFound"]["message"]
    for body in ({"state": "invalid"}, {"state": 1}, {}, "error", {"state": "error", "x": 1}):
        r = await _reset(cloud, sid, cloud.admin_token, body)
        assert r.status_code == 400, body
        assert "Invalid input" in r.json()["badRequest"]["message"]
    # The body is checked before the server is looked up, as Nova's schema does.
    r = await _reset(cloud, "999", cloud.admin_token, {"state": "invalid"})
    assert r.status_code == 400
