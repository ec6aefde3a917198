"""Lock order between servers and the network rows their hosts apply: a port update
locks the server before the port, as the conductor's interface results do; a rule
change bumps the servers before it writes its group's row, as a bind takes its server
before its ports' group rows. None of them deadlock crosswise (on SQLite one writer runs
at a time, so only the database servers can show it)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.db.models import Instance, IPAllocation, Port, PortSecurityGroup
from tests.conftest import Cloud
from tests.network_api.helpers import V2, create


async def _server_port(cloud: Cloud, cidr: str, **port: Any) -> tuple[dict[str, Any], str]:
    """A port (made through the API) that a server row of the demo project holds."""
    net = await create(cloud, "network", cloud.demo, name="n")
    await create(cloud, "subnet", cloud.demo, network_id=net["id"], ip_version=4, cidr=cidr)
    made = await create(cloud, "port", cloud.demo, network_id=net["id"], **port)
    async with cloud.state.db.session() as s:
        inst = Instance(
            name="vm", project_id=cloud.seeded.demo_project_id, user_id="u", flavor_id="1"
        )
        s.add(inst)
        await s.flush()
        await s.execute(
            update(Port)
            .where(Port.id == made["id"])
            .values(device_id=inst.uuid, device_owner="compute:nova")
        )
        return made, inst.uuid


@contextlib.asynccontextmanager
async def _update_behind_the_server(
    cloud: Cloud, uuid: str, port_id: str
) -> AsyncIterator[tuple[AsyncSession, asyncio.Task[httpx.Response]]]:
    """Hold the server's row (as an interface result or a server delete does) while an
    update of its port starts: the update waits for it."""
    async with cloud.state.db.session() as holder:
        await holder.execute(select(Instance.id).where(Instance.uuid == uuid).with_for_update())
        put = asyncio.create_task(
            cloud.client.put(
                f"{V2}/ports/{port_id}", json={"port": {"admin_state_up": False}},
                headers=cloud.demo,
            )
        )  # fmt: skip
        # Long enough for the update to reach its first lock; too short only weakens
        # the test (the update then runs after this transaction).
        await asyncio.sleep(0.5)
        yield holder, put


@pytest.mark.backend("postgresql", "mariadb")
async def test_port_update_waits_for_the_server_before_locking_the_port(
    cloud: Cloud, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="stockyard.api.retry")
    port, uuid = await _server_port(cloud, "10.21.0.0/24")
    db = cloud.state.db
    # What an interface result holds: the server's row, then it writes the port's.
    async with _update_behind_the_server(cloud, uuid, port["id"]) as (result, put):
        assert not put.done()
        await result.execute(update(Port).where(Port.id == port["id"]).values(status="ACTIVE"))
    resp = await put
    assert resp.status_code == 200, resp.text
    assert resp.json()["port"]["admin_state_up"] is False
    # Neither side was a deadlock victim: the update was not re-run.
    assert [r.getMessage() for r in caplog.records if "re-running" in r.getMessage()] == []
    async with db.session() as s:
        rev = await s.scalar(select(Instance.ports_rev).where(Instance.uuid == uuid))
    assert rev == 1


@pytest.mark.backend("postgresql", "mariadb")
async def test_a_rule_change_does_not_deadlock_with_a_bind_into_its_group(
    cloud: Cloud, caplog: pytest.LogCaptureFixture
) -> None:
    """A bind (or an interface attach) holds its server's row, then inserts its port's
    group memberships, which locks the group's row as their parent (InnoDB). A rule
    change bumps the group's members' servers before it writes the group's row, so
    the bind is never left waiting for a group row held by a rule change that waits
    for the bind's server."""
    caplog.set_level(logging.WARNING, logger="stockyard.api.retry")
    group = await create(cloud, "security_group", cloud.demo, name="g")
    first, uuid = await _server_port(cloud, "10.22.0.0/24", security_groups=[group["id"]])
    net_id = first["network_id"]
    second = await create(cloud, "port", cloud.demo, network_id=net_id, security_groups=[])
    db = cloud.state.db
    async with db.session() as bind:
        await bind.execute(select(Instance.id).where(Instance.uuid == uuid).with_for_update())
        rule = {
            "security_group_id": group["id"], "direction": "ingress", "protocol": "tcp",
            "port_range_min": 22, "port_range_max": 22,
        }  # fmt: skip
        post = asyncio.create_task(
            cloud.client.post(
                f"{V2}/security-group-rules",
                json={"security_group_rule": rule},
                headers=cloud.demo,
            )
        )
        await asyncio.sleep(0.5)  # the rule change waits for the server (see above)
        bind.add(PortSecurityGroup(port_id=second["id"], security_group_id=group["id"]))
        await bind.flush()
    resp = await post
    assert resp.status_code == 201, resp.text
    assert [r.getMessage() for r in caplog.records if "re-running" in r.getMessage()] == []
    async with db.session() as s:
        assert await s.scalar(select(Instance.ports_rev).where(Instance.uuid == uuid)) == 1


@pytest.mark.backend("postgresql", "mariadb")
async def test_a_port_update_after_its_server_deleted_the_port_is_a_404(cloud: Cloud) -> None:
    """The update waited for the server's lock while a delete of the server removed the
    port: Neutron's 404, not a 500 over an UPDATE that matched nothing."""
    port, uuid = await _server_port(cloud, "10.23.0.0/24")
    async with _update_behind_the_server(cloud, uuid, port["id"]) as (deleting, put):
        await deleting.execute(delete(IPAllocation).where(IPAllocation.port_id == port["id"]))
        await deleting.execute(
            delete(PortSecurityGroup).where(PortSecurityGroup.port_id == port["id"])
        )
        await deleting.execute(delete(Port).where(Port.id == port["id"]))
    resp = await put
    assert resp.status_code == 404, resp.text
    assert resp.json()["NeutronError"]["type"] == "PortNotFound"
