"""An interface op's result (or its time-out) that waits for the server's lock while a
delete of the server removes the port: it finds the port gone and ends quietly, instead
of failing on a port it can no longer read (found by the random walk, on PostgreSQL and
MariaDB, once it attached and detached interfaces)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import delete, select, update

from stockyard.bus import contract
from stockyard.db.base import utcnow
from stockyard.db.models import Instance, IPAllocation, Port, PortSecurityGroup
from stockyard.lifecycle.leases import op_owner
from stockyard.network.interfaces import ATTACHING
from tests.conductor.conftest import Lab


async def _attaching_port(lab: Lab, *, expired: bool) -> tuple[str, str]:
    await lab.add_hosts(1)
    await lab.start()
    (uuid,) = await lab.create(1)
    await lab.settled([uuid])
    async with lab.db.session() as s:
        port_id = await s.scalar(select(Port.id).where(Port.device_id == uuid))
        assert port_id is not None
        expires = utcnow() + timedelta(seconds=-5 if expired else 60)
        await s.execute(
            update(Port)
            .where(Port.id == port_id)
            .values(
                iface_op=ATTACHING,
                iface_lease_owner=op_owner("attach_interface", "op-1"),
                iface_lease_expires=expires,
            )
        )
    return uuid, port_id


async def _while_a_delete_holds_the_server(
    lab: Lab, uuid: str, port_id: str, work: asyncio.Task[object]
) -> None:
    async with lab.db.session() as s:
        await s.execute(select(Instance.id).where(Instance.uuid == uuid).with_for_update())
        # Long enough for the work to wait on the server's row; too short only means it
        # runs after this transaction (and the test passes without showing anything).
        await asyncio.sleep(0.5)
        await s.execute(delete(IPAllocation).where(IPAllocation.port_id == port_id))
        await s.execute(delete(PortSecurityGroup).where(PortSecurityGroup.port_id == port_id))
        await s.execute(delete(Port).where(Port.id == port_id))
        await s.execute(update(Instance).where(Instance.uuid == uuid).values(deleted=True))
    await work


@pytest.mark.backend("sqlite", "postgresql", "mariadb")
async def test_a_result_for_a_port_deleted_meanwhile_is_dropped(lab: Lab) -> None:
    uuid, port_id = await _attaching_port(lab, expired=False)
    result = contract.OpResult(
        instance_uuid=uuid, op="attach_interface", op_id="op-1", ok=True, host="", power_state=1
    )
    work = asyncio.create_task(lab.conductor.interfaces.on_result(result))
    await _while_a_delete_holds_the_server(lab, uuid, port_id, work)
    async with lab.db.session() as s:
        assert await s.get(Port, port_id) is None


@pytest.mark.backend("sqlite", "postgresql", "mariadb")
async def test_a_time_out_for_a_port_deleted_meanwhile_is_dropped(lab: Lab) -> None:
    uuid, port_id = await _attaching_port(lab, expired=True)
    work = asyncio.create_task(lab.conductor.interfaces.reconcile_once())
    await _while_a_delete_holds_the_server(lab, uuid, port_id, work)
    async with lab.db.session() as s:
        assert await s.get(Port, port_id) is None
