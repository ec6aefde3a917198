"""A port update that the server's host must re-apply locks the server before the port,
as the conductor's interface results do: the two never deadlock crosswise (on SQLite one
writer runs at a time, so only the database servers can show it)."""

from __future__ import annotations

import asyncio
import logging

import pytest
from sqlalchemy import select, update

from stockyard.db.models import Instance, Port
from tests.conftest import Cloud
from tests.network_api.helpers import V2, create


@pytest.mark.backend("postgresql", "mariadb")
async def test_port_update_waits_for_the_server_before_locking_the_port(
    cloud: Cloud, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="stockyard.api.retry")
    net = await create(cloud, "network", cloud.demo, name="n")
    await create(
        cloud, "subnet", cloud.demo, network_id=net["id"], ip_version=4, cidr="10.21.0.0/24"
    )
    port = await create(cloud, "port", cloud.demo, network_id=net["id"])
    db = cloud.state.db
    async with db.session() as s:
        inst = Instance(
            name="vm", project_id=cloud.seeded.demo_project_id, user_id="u", flavor_id="1"
        )
        s.add(inst)
        await s.flush()
        uuid = inst.uuid
        await s.execute(
            update(Port)
            .where(Port.id == port["id"])
            .values(device_id=uuid, device_owner="compute:nova")
        )
    async with db.session() as result:
        # What an interface result holds: the server's row, then it writes the port's.
        await result.execute(select(Instance.id).where(Instance.uuid == uuid).with_for_update())
        put = asyncio.create_task(
            cloud.client.put(
                f"{V2}/ports/{port['id']}",
                json={"port": {"admin_state_up": False}},
                headers=cloud.demo,
            )
        )
        # Long enough for the update to reach its first lock; too short only weakens
        # the test (the update then runs after this transaction).
        await asyncio.sleep(0.5)
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
