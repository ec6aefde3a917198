"""Every (vm_state, task_state) x server action, through the real API and conductor.

For each pair a server is built (real API, scheduler role, conductor, compute agents with
the fake driver), forced into the pair as a crash could leave it, then each action is
asked for. The answer is either Nova's 409 (and the row is untouched) or 202/204 and the
server reaches a stable state; never an unknown transition, never a stuck task.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select, update

from stockyard.compute.agent import ComputeAgent
from stockyard.compute.drivers.fake import FakeDriver
from stockyard.conductor.service import Conductor
from stockyard.db.models import Flavor, Host, Image, Instance, InstanceFault, Region
from stockyard.lifecycle.states import TaskState, VmState
from stockyard.placement.service import SchedulerService
from tests.conftest import Cloud

MV = "2.79"
HOSTS = ["walk-h0", "walk-h1"]
ACTIONS: dict[str, dict[str, Any] | None] = {
    "reboot-soft": {"reboot": {"type": "SOFT"}},
    "reboot-hard": {"reboot": {"type": "HARD"}},
    "stop": {"os-stop": None},
    "start": {"os-start": None},
    "rebuild": None,  # filled with the image id
    "delete": None,
}
PAIRS = [
    (vm, task)
    for vm in (VmState.BUILDING, VmState.ACTIVE, VmState.STOPPED, VmState.ERROR)
    for task in (None, *TaskState)
]


@dataclass
class Walk:
    cloud: Cloud
    image_id: str
    conductor: Conductor

    @property
    def h(self) -> dict[str, str]:
        return self.cloud.headers(self.cloud.demo_token, MV)

    async def create(self, flavor: str = "w1") -> str:
        body = {
            "server": {"name": "w", "flavorRef": flavor, "imageRef": self.image_id},
        }
        body["server"]["networks"] = "none"
        r = await self.cloud.client.post("/compute/v2.1/servers", json=body, headers=self.h)
        assert r.status_code == 202, r.text
        return str(r.json()["server"]["id"])

    async def row(self, uuid: str) -> Instance:
        async with self.cloud.state.db.session() as s:
            inst = await s.scalar(select(Instance).where(Instance.uuid == uuid))
            assert inst is not None
            return inst

    async def stable(self, uuid: str) -> Instance:
        """Wait (bounded) until the row has no task; the reconciler runs meanwhile."""
        for i in range(400):
            inst = await self.row(uuid)
            if inst.task_state is None:
                return inst
            if i % 20 == 19:
                await self.conductor.reconciler.run_once()
            await asyncio.sleep(0.025)
        raise AssertionError(f"{uuid} stuck in {inst.vm_state}/{inst.task_state}")

    async def force(self, uuid: str, vm: VmState, task: TaskState | None) -> None:
        """Put the row into a pair as a crash could leave it (no lease, no op in flight)."""
        async with self.cloud.state.db.session() as s:
            await s.execute(
                update(Instance)
                .where(Instance.uuid == uuid)
                .values(
                    vm_state=vm.value,
                    task_state=task.value if task else None,
                    lease_owner=None,
                    lease_expires=None,
                )
            )

    async def act(self, uuid: str, action: str) -> int:
        c = self.cloud.client
        if action == "delete":
            r = await c.delete(f"/compute/v2.1/servers/{uuid}", headers=self.h)
            return r.status_code
        body = ACTIONS[action] or {"rebuild": {"imageRef": self.image_id}}
        r = await c.post(f"/compute/v2.1/servers/{uuid}/action", json=body, headers=self.h)
        if r.status_code == 409:
            message = r.json()["conflictingRequest"]["message"]
            assert r.json()["conflictingRequest"]["code"] == 409
            assert message.startswith("Cannot '") or message.endswith("is not ready"), message
        return r.status_code


@pytest.fixture
async def walk(cloud: Cloud) -> AsyncIterator[Walk]:
    settings = cloud.state.settings
    settings.lease_seconds = 2
    settings.reconcile_interval_seconds = 0.1
    db, bus = cloud.state.db, cloud.state.bus
    async with db.session() as s:
        s.add(Region(id="RegionOne", cidr="10.9.0.0/20"))
        s.add(Flavor(flavorid="w1", name="w.1", vcpus=1, ram=128, disk=1))
        s.add(Flavor(flavorid="huge", name="w.huge", vcpus=1, ram=128, disk=9000))
        image = Image(
            name="tiny",
            status="active",
            visibility="public",
            disk_format="raw",
            container_format="bare",
            size=10,
            owner=cloud.seeded.admin_project_id,
        )
        s.add(image)
        for i, name in enumerate(HOSTS):
            s.add(
                Host(
                    name=name, region="RegionOne", az="nova", rack=f"r{i}",
                    vcpus=400, memory_mb=400 * 1024, local_gb=4000,
                )
            )  # fmt: skip
        await s.flush()
        image_id = image.id
    agents = [ComputeAgent(h, FakeDriver(h, vcpus=400), bus, report_interval=3600) for h in HOSTS]
    for agent in agents:
        await agent.start()
    scheduler = SchedulerService(db, bus, settings, host_refresh_seconds=3600)
    conductor = Conductor(db, bus, settings, remote_scheduling=True, orphan_grace_seconds=0.2)
    await scheduler.start()
    await conductor.start(background=False)
    try:
        yield Walk(cloud, image_id, conductor)
    finally:
        await conductor.stop()
        await scheduler.stop()
        for agent in agents:
            await agent.stop()


async def test_every_state_and_action(walk: Walk, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    outcomes: dict[str, int] = {}
    for vm, task in PAIRS:
        for action in ACTIONS:
            uuid = await walk.create()
            assert (await walk.stable(uuid)).vm_state == "active"
            await walk.force(uuid, vm, task)
            code = await walk.act(uuid, action)
            case = f"{vm.value}/{task.value if task else None} {action}"
            outcomes[f"{code}"] = outcomes.get(f"{code}", 0) + 1
            if code == 409:
                row = await walk.row(uuid)
                # A refusal changes nothing.
                assert (row.vm_state, row.task_state) == (vm.value, task.value if task else None)
                # Whatever was forced is the reconciler's to finish; the walk needs the
                # host back, so delete it.
                assert await walk.act(uuid, "delete") == 204, case
            else:
                assert code in (202, 204), (case, code)
            row = await walk.stable(uuid)
            if action == "delete" or code == 409:
                assert row.vm_state == "deleted", (case, row.vm_state)
            else:
                assert row.vm_state in {"active", "stopped", "error"}, (case, row.vm_state)
                await walk.act(uuid, "delete")
                assert (await walk.stable(uuid)).vm_state == "deleted", case
    bad = [
        r.getMessage()
        for r in caplog.records
        if "IllegalTransition" in r.getMessage()
        or "reconciler pass failed" in r.getMessage()
        or "Internal error while" in r.getMessage()
    ]
    assert not bad, bad[:5]
    # Idle pairs accept most actions; transitional ones refuse all but delete (and a hard
    # reboot over a soft one).
    assert outcomes == {"409": 167, "204": 36, "202": 13}, outcomes


async def test_unplaced_error_server_is_not_ready(walk: Walk) -> None:
    """Nova's check_instance_host: a server that never got a host is 'not ready' for stop,
    reboot and rebuild; a delete still works."""
    uuid = await walk.create("huge")
    row = await walk.stable(uuid)
    assert row.vm_state == "error" and row.host is None
    for action in ("stop", "reboot-hard", "rebuild", "start"):
        assert await walk.act(uuid, action) == 409, action
    assert (await walk.row(uuid)).task_state is None
    assert await walk.act(uuid, "delete") == 204
    assert (await walk.stable(uuid)).vm_state == "deleted"


async def test_stop_on_placed_error_server_powers_it_off(walk: Walk) -> None:
    uuid = await walk.create()
    await walk.stable(uuid)
    await walk.force(uuid, VmState.ERROR, None)
    assert await walk.act(uuid, "stop") == 202
    row = await walk.stable(uuid)
    assert row.vm_state == "stopped"


async def test_one_broken_row_does_not_stop_recovery(
    walk: Walk, caplog: pytest.LogCaptureFixture
) -> None:
    """A row no flow can complete is failed readably; the rest of the pass goes on."""
    broken, stuck = await walk.create(), await walk.create()
    for uuid in (broken, stuck):
        await walk.stable(uuid)
    # Not a pair of the table: what a bug or a hand edit could leave behind.
    await walk.force(broken, VmState.BUILDING, TaskState.POWERING_OFF)
    await walk.force(stuck, VmState.ACTIVE, TaskState.REBOOTING)
    async with walk.cloud.state.db.session() as s:
        await s.execute(update(Instance).values(task_started_at=None))
    await asyncio.sleep(0.3)  # older than the orphan grace
    await walk.conductor.reconciler.run_once()
    assert (await walk.stable(stuck)).vm_state == "active"
    row = await walk.stable(broken)
    assert row.vm_state == "error"
    async with walk.cloud.state.db.session() as s:
        fault = await s.scalar(
            select(InstanceFault)
            .where(InstanceFault.instance_uuid == broken)
            .order_by(InstanceFault.id.desc())
        )
    assert fault is not None and "Internal error while" in fault.message, fault
    assert broken in caplog.text
    assert "reconciler pass failed" not in caplog.text
    # The next pass is clean.
    assert await walk.conductor.reconciler.run_once() == 0


async def test_networks_none_gives_no_address_and_auto_one(walk: Walk) -> None:
    """Nova 2.37: ``networks: "none"`` is a server without ports, hence no addresses."""
    none = await walk.create()
    body = {"server": {"name": "a", "flavorRef": "w1", "imageRef": walk.image_id}}
    body["server"]["networks"] = "auto"
    r = await walk.cloud.client.post("/compute/v2.1/servers", json=body, headers=walk.h)
    auto = str(r.json()["server"]["id"])
    for uuid in (none, auto):
        assert (await walk.stable(uuid)).vm_state == "active"
    c, h = walk.cloud.client, walk.h
    shown = (await c.get(f"/compute/v2.1/servers/{none}", headers=h)).json()["server"]
    assert shown["addresses"] == {}
    assert (await c.get(f"/compute/v2.1/servers/{none}/ips", headers=h)).json() == {"addresses": {}}
    shown = (await c.get(f"/compute/v2.1/servers/{auto}", headers=h)).json()["server"]
    assert [a["addr"] for net in shown["addresses"].values() for a in net]
