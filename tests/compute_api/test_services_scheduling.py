"""A disabled or forced-down compute service takes no new server; the running scheduler and
conductor processes list themselves in ``os-services``.

Real API, scheduler role, conductor and compute agents (fake driver), in process.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from stockyard.compute.agent import ComputeAgent
from stockyard.compute.drivers.fake import FakeDriver
from stockyard.conductor.service import Conductor
from stockyard.db.models import Flavor, Host, Image, Instance, Region
from stockyard.placement.service import SchedulerService
from tests.compute_api.helpers import V
from tests.conftest import Cloud

HOSTS = ["svc-h0", "svc-h1"]


@dataclass
class Lab:
    cloud: Cloud
    image_id: str
    scheduler: SchedulerService
    uuids: dict[str, str]

    async def create(self) -> str:
        body = {"server": {"name": "s", "flavorRef": "s1", "imageRef": self.image_id}}
        body["server"]["networks"] = "none"
        h = self.cloud.headers(self.cloud.demo_token, "2.79")
        r = await self.cloud.client.post(f"{V}/servers", json=body, headers=h)
        assert r.status_code == 202, r.text
        return str(r.json()["server"]["id"])

    async def host_of(self, uuid: str) -> str | None:
        """The host once the server is ACTIVE (bounded wait; no timing asserted)."""
        for _ in range(400):
            async with self.cloud.state.db.session() as s:
                inst = await s.scalar(select(Instance).where(Instance.uuid == uuid))
            assert inst is not None
            if inst.vm_state in ("active", "error") and inst.task_state is None:
                return inst.host if inst.vm_state == "active" else None
            await asyncio.sleep(0.025)
        raise AssertionError(f"{uuid} did not settle")

    async def put_service(self, host: str, body: dict[str, object]) -> None:
        h = self.cloud.headers(self.cloud.admin_token, "2.53")
        r = await self.cloud.client.put(f"{V}/os-services/{self.uuids[host]}", json=body, headers=h)
        assert r.status_code == 200, r.text


@pytest.fixture
async def lab(cloud: Cloud) -> AsyncIterator[Lab]:
    settings = cloud.state.settings
    settings.lease_seconds = 2
    settings.reconcile_interval_seconds = 0.1
    db, bus = cloud.state.db, cloud.state.bus
    uuids: dict[str, str] = {}
    async with db.session() as s:
        s.add(Region(id="RegionOne", cidr="10.9.0.0/20"))
        s.add(Flavor(flavorid="s1", name="s.1", vcpus=1, ram=128, disk=1))
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
            host = Host(
                name=name, region="RegionOne", az="nova", rack=f"r{i}",
                vcpus=64, memory_mb=64 * 1024, local_gb=640,
            )  # fmt: skip
            s.add(host)
            await s.flush()
            uuids[name] = host.uuid
        await s.flush()
        image_id = image.id
    agents = [ComputeAgent(h, FakeDriver(h, vcpus=64), bus, report_interval=3600) for h in HOSTS]
    for agent in agents:
        await agent.start()
    # The scheduler's in-memory host states are not refreshed during the test: the claim
    # alone must keep servers off a disabled host.
    scheduler = SchedulerService(db, bus, settings, host_refresh_seconds=3600)
    conductor = Conductor(db, bus, settings, remote_scheduling=True, orphan_grace_seconds=0.2)
    await scheduler.start()
    await conductor.start(background=False)
    try:
        yield Lab(cloud, image_id, scheduler, uuids)
    finally:
        await conductor.stop()
        await scheduler.stop()
        for agent in agents:
            await agent.stop()


async def test_disabled_host_is_skipped(lab: Lab) -> None:
    await lab.put_service("svc-h0", {"status": "disabled", "disabled_reason": "repair"})
    placed = [await lab.host_of(await lab.create()) for _ in range(4)]
    assert placed == ["svc-h1"] * 4
    # Once the scheduler's host states are refreshed it does not even try svc-h0.
    await lab.scheduler.hosts.refresh()
    assert [await lab.host_of(await lab.create()) for _ in range(2)] == ["svc-h1"] * 2
    # Forced down and enabled: still skipped; both disabled: no valid host.
    await lab.put_service("svc-h0", {"status": "enabled", "forced_down": True})
    await lab.put_service("svc-h1", {"status": "disabled"})
    assert await lab.host_of(await lab.create()) is None
    # Back in service: placed again.
    await lab.put_service("svc-h0", {"forced_down": False})
    await lab.scheduler.hosts.refresh()
    assert await lab.host_of(await lab.create()) == "svc-h0"


async def test_processes_listed(lab: Lab) -> None:
    h = lab.cloud.headers(lab.cloud.admin_token, "2.53")
    r = await lab.cloud.client.get(f"{V}/os-services", headers=h)
    services = r.json()["services"]
    binaries = sorted(s["binary"] for s in services)
    assert binaries == ["nova-compute", "nova-compute", "nova-conductor", "nova-scheduler"]
    assert all(s["state"] == "up" for s in services)
    # Stopping the processes leaves their rows, to go down after the down time.
    await lab.scheduler.stop()
    r = await lab.cloud.client.get(f"{V}/os-services?binary=nova-scheduler", headers=h)
    assert len(r.json()["services"]) == 1
