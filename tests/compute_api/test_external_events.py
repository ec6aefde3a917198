"""``os-server-external-events``: per-event codes, the 200/207/404 rule, power-update."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from stockyard.db.models import Instance, InstanceAction
from tests.compute_api.helpers import V, add_host
from tests.conftest import Cloud

URL = f"{V}/os-server-external-events"


async def _server(cloud: Cloud, host: str | None, vm_state: str = "active") -> str:
    async with cloud.state.db.session() as session:
        inst = Instance(
            name="vm",
            project_id=cloud.seeded.demo_project_id,
            user_id="u",
            flavor_id="f",
            host=host,
            vm_state=vm_state,
            power_state=1 if vm_state == "active" else 4,
        )
        session.add(inst)
        await session.flush()
        return inst.uuid


async def _post(cloud: Cloud, events: Any, mv: str | None = None) -> Any:
    return await cloud.client.post(
        URL, json={"events": events}, headers=cloud.headers(cloud.admin_token, mv)
    )


async def test_network_event_accepted(cloud: Cloud) -> None:
    server = await _server(cloud, "hv-1")
    r = await _post(cloud, [{"name": "network-changed", "server_uuid": server}])
    assert r.status_code == 200, r.text
    assert r.json() == {
        "events": [
            {"name": "network-changed", "server_uuid": server, "status": "completed", "code": 200}
        ]
    }


async def test_mixed_outcomes_are_207_and_none_is_404(cloud: Cloud) -> None:
    on_host = await _server(cloud, "hv-1")
    no_host = await _server(cloud, None, vm_state="building")
    missing = str(uuid.uuid4())
    r = await _post(
        cloud,
        [
            {"name": "network-vif-plugged", "server_uuid": on_host, "tag": "port-1"},
            {"name": "network-vif-plugged", "server_uuid": no_host},
            {"name": "network-vif-deleted", "server_uuid": missing},
        ],
    )
    assert r.status_code == 207, r.text
    assert [e["code"] for e in r.json()["events"]] == [200, 422, 404]
    assert [e["status"] for e in r.json()["events"]] == ["completed", "failed", "failed"]
    none = await _post(cloud, [{"name": "network-changed", "server_uuid": missing}])
    assert none.status_code == 404 and "itemNotFound" in none.json()


async def test_validation_per_microversion(cloud: Cloud) -> None:
    server = await _server(cloud, "hv-1")
    bad_bodies = [
        [],
        [{"name": "network-changed"}],
        [{"name": "network-changed", "server_uuid": "not-a-uuid"}],
        [{"name": "bogus", "server_uuid": server}],
        [{"name": "network-changed", "server_uuid": server, "status": "done"}],
        [{"name": "network-changed", "server_uuid": server, "extra": 1}],
        [{"name": "network-changed", "server_uuid": server, "tag": "x" * 256}],
        # Names of later microversions.
        [{"name": "volume-extended", "server_uuid": server, "tag": "vol"}],
        [{"name": "power-update", "server_uuid": server, "tag": "POWER_OFF"}],
    ]
    for events in bad_bodies:
        r = await _post(cloud, events)
        assert r.status_code == 400, (events, r.text)
    ok = await _post(
        cloud, [{"name": "volume-extended", "server_uuid": server, "tag": "v"}], "2.51"
    )
    assert ok.status_code == 200
    # A volume event without its volume tag cannot be delivered.
    untagged = await cloud.client.post(
        URL,
        json={
            "events": [
                {"name": "volume-extended", "server_uuid": server},
                {"name": "network-changed", "server_uuid": server},
            ]
        },
        headers=cloud.headers(cloud.admin_token, "2.51"),
    )
    assert untagged.status_code == 207
    assert [e["code"] for e in untagged.json()["events"]] == [400, 200]


async def test_policy_admin_or_service(cloud: Cloud) -> None:
    server = await _server(cloud, "hv-1")
    body = {"events": [{"name": "network-changed", "server_uuid": server}]}
    assert (await cloud.client.post(URL, json=body, headers=cloud.demo)).status_code == 403
    roles = (await cloud.client.get("/identity/v3/roles", headers=cloud.admin)).json()["roles"]
    service = next(r["id"] for r in roles if r["name"] == "service")
    grant = (
        f"/identity/v3/projects/{cloud.seeded.demo_project_id}"
        f"/users/{cloud.seeded.demo_user_id}/roles/{service}"
    )
    assert (await cloud.client.put(grant, headers=cloud.admin)).status_code == 204
    token = await cloud.token_for(cloud.seeded.demo_user_id, cloud.seeded.demo_project_id)
    r = await cloud.client.post(URL, json=body, headers=cloud.headers(token))
    assert r.status_code == 200, r.text


async def test_power_update_on_baremetal_changes_state(cloud: Cloud) -> None:
    await add_host(cloud, "bm-1", kind="baremetal")
    await add_host(cloud, "hv-1")
    metal = await _server(cloud, "bm-1")
    vm = await _server(cloud, "hv-1")
    r = await _post(
        cloud,
        [
            {"name": "power-update", "server_uuid": metal, "tag": "POWER_OFF"},
            {"name": "power-update", "server_uuid": vm, "tag": "POWER_OFF"},
        ],
        "2.76",
    )
    assert r.status_code == 200, r.text
    async with cloud.state.db.session() as session:
        rows = {
            i.uuid: i
            for i in await session.scalars(select(Instance).where(Instance.uuid.in_([metal, vm])))
        }
        actions = list(await session.scalars(select(InstanceAction)))
    assert (rows[metal].vm_state, rows[metal].power_state) == ("stopped", 4)
    # A VM's hypervisor is the authority on its power: the event changes nothing.
    assert (rows[vm].vm_state, rows[vm].power_state) == ("active", 1)
    assert [(a.instance_uuid, a.action) for a in actions] == [(metal, "stop")]
    show = await cloud.client.get(f"{V}/servers/{metal}", headers=cloud.admin)
    assert show.status_code == 200 and show.json()["server"]["status"] == "SHUTOFF"
    on = await _post(
        cloud, [{"name": "power-update", "server_uuid": metal, "tag": "POWER_ON"}], "2.76"
    )
    assert on.status_code == 200
    async with cloud.state.db.session() as session:
        inst = await session.scalar(select(Instance).where(Instance.uuid == metal))
    assert inst is not None and (inst.vm_state, inst.power_state) == ("active", 1)


async def test_accelerator_request_bound_from_2_82(cloud: Cloud) -> None:
    """Nova's API answers it without looking at ARQs: tag required, then the usual codes.
    Stockyard has no accelerators, so an accepted event changes nothing on the server."""
    on_host = await _server(cloud, "hv-1")
    no_host = await _server(cloud, None, vm_state="building")
    event = {"name": "accelerator-request-bound", "server_uuid": on_host, "tag": "arq-1"}
    r = await _post(cloud, [event], "2.81")
    assert r.status_code == 400 and "accelerator-request-bound" in r.text
    r = await _post(
        cloud,
        [
            event,
            {"name": "accelerator-request-bound", "server_uuid": on_host},
            {**event, "server_uuid": no_host},
            {**event, "server_uuid": str(uuid.uuid4())},
        ],
        "2.82",
    )
    assert r.status_code == 207, r.text
    assert [e["code"] for e in r.json()["events"]] == [200, 400, 422, 404]
    assert r.json()["events"][0]["status"] == "completed"
    async with cloud.state.db.session() as session:
        inst = await session.scalar(select(Instance).where(Instance.uuid == on_host))
        assert inst is not None and (inst.vm_state, inst.task_state) == ("active", None)
        actions = await session.scalars(
            select(InstanceAction).where(InstanceAction.instance_uuid == on_host)
        )
        assert actions.all() == []
