"""A lab for conductor tests: a fresh database, MemoryBus, real conductors, a test agent.

The database is SQLite unless the test is marked ``@pytest.mark.backend(...)`` (then
once per backend named, on real PostgreSQL and MariaDB servers: see ``db_url``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from stockyard.bus.base import Message
from stockyard.bus.memory import MemoryBus
from stockyard.compute.drivers.base import PowerState
from stockyard.conductor.service import Conductor
from stockyard.db.base import Database, new_uuid
from stockyard.db.models import (
    Host,
    Instance,
    InstanceAction,
    Region,
    ServerGroup,
    ServerGroupMember,
)
from stockyard.network import provider
from stockyard.settings import Settings

FLAVOR = {"id": "1", "name": "m1.small", "vcpus": 1, "ram": 512, "disk": 1, "extra_specs": {}}
GOLD = {
    "id": "bm", "name": "bm.gold", "vcpus": 32, "ram": 65536, "disk": 500,
    "extra_specs": {"resources:CUSTOM_BM_GOLD": "1"},
}  # fmt: skip
"""A baremetal flavor: a whole ``BM_GOLD`` node of :meth:`Lab.add_nodes`."""


class TestAgent:
    """Answers ops on ``compute.<host>`` like the real agent; can fail, drop or repeat."""

    __test__ = False

    def __init__(self, bus: MemoryBus) -> None:
        self.bus = bus
        self.fail_spawn_on: set[str] = set()
        self.fail_ops: set[str] = set()
        self.drop = False
        self.repeat_results = 1
        self.received: list[Message] = []
        self.power: dict[str, dict[str, int]] = {}

    async def serve(self, hosts: Sequence[str]) -> None:
        for host in hosts:
            self.power.setdefault(host, {})
            await self.bus.subscribe(f"compute.{host}", partial(self._handle, host), 4)

    async def _handle(self, host: str, msg: Message) -> None:
        self.received.append(msg)
        if self.drop:
            return
        op = msg["op"]
        uuid = msg["instance"]["uuid"]
        ok = op not in self.fail_ops and not (op == "spawn" and host in self.fail_spawn_on)
        ps = PowerState.RUNNING
        if ok:
            if op == "destroy":
                self.power[host].pop(uuid, None)
                ps = PowerState.NOSTATE
            elif op == "power_off" or (op == "rebuild" and msg.get("stopped")):
                ps = PowerState.SHUTDOWN
            if op != "destroy":
                self.power[host][uuid] = ps
        result = {
            "type": "op_result",
            "instance_uuid": uuid,
            "op": op,
            "op_id": msg["op_id"],
            "ok": ok,
            "power_state": int(ps) if ok else int(PowerState.NOSTATE),
            "error": None if ok else f"{op} failed on {host}: emulated driver error",
            "details": "",
            "host": host,
            "request_id": msg.get("request_id", ""),
        }
        for _ in range(self.repeat_results):
            await self.bus.publish("conductor", dict(result))

    def report(self, host: str) -> Message:
        return {
            "type": "host_report",
            "host": host,
            "hypervisor_type": "fake",
            "vcpus": 10,
            "memory_mb": 5120,
            "local_gb": 100,
            "power_states": dict(self.power.get(host, {})),
        }


@dataclass
class Lab:
    db: Database
    bus: MemoryBus
    settings: Settings
    agent: TestAgent
    conductors: list[Conductor] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)

    @property
    def conductor(self) -> Conductor:
        return self.conductors[0]

    async def add_hosts(
        self,
        n: int,
        *,
        vcpus: int = 10,
        region: str = "r1",
        az: str = "az1",
        racks: int = 1,
        serve: bool = True,
    ) -> list[str]:
        """Enrol ``n`` hypervisors; ``serve``: the test agent answers their ops."""
        names = []
        async with self.db.session() as s:
            if await s.get(Region, region) is None:
                s.add(Region(id=region, cidr="10.1.0.0/22"))
            for i in range(n):
                name = f"{region}-h{len(self.hosts) + i}"
                s.add(
                    Host(
                        name=name,
                        region=region,
                        az=az,
                        rack=f"rack{i % racks}",
                        vcpus=vcpus,
                        memory_mb=vcpus * 512,
                        local_gb=vcpus * 10,
                        cpu_allocation_ratio=1.0,
                        ram_allocation_ratio=1.0,
                        disk_allocation_ratio=1.0,
                    )
                )
                names.append(name)
        self.hosts.extend(names)
        if serve:
            await self.agent.serve(names)
        return names

    async def add_nodes(self, macs: dict[str, list[str]]) -> None:
        """Enrol baremetal ``BM_GOLD`` nodes of project p1's stock in r1 (name -> NIC
        MACs), with r1's provider network; the test agent answers their ops."""
        async with self.db.session() as s:
            await provider.ensure(s, "r1", "10.1.0.0/22")
            for name, nics in macs.items():
                s.add(
                    Host(
                        name=name, kind="baremetal", region="r1", az="az1", rack="rack0",
                        resource_class="BM_GOLD", owner_project="p1", vcpus=32,
                        memory_mb=65536, local_gb=500, macs=nics,
                    )
                )  # fmt: skip
        await self.agent.serve(list(macs))

    async def start(self, n: int = 1, **kwargs: Any) -> list[Conductor]:
        for i in range(n):
            c = Conductor(
                self.db, self.bus, self.settings, conductor_id=f"cond-{len(self.conductors)}-{i}",
                **kwargs,
            )  # fmt: skip
            await c.start(background=False)
            self.conductors.append(c)
        return self.conductors

    async def group(self, policy: str = "anti-affinity", **rules: Any) -> str:
        async with self.db.session() as s:
            g = ServerGroup(name=f"g-{policy}", project_id="p1", user_id="u1", policy=policy)
            g.rules = dict(rules)
            s.add(g)
        return g.uuid

    async def create(
        self,
        n: int,
        *,
        flavor: dict[str, Any] | None = None,
        group_uuid: str | None = None,
        publish: bool = True,
        **fields: Any,
    ) -> list[str]:
        """Insert rows as the API does, then (optionally) send the build hint."""
        uuids = [new_uuid() for _ in range(n)]
        request_id = "req-" + new_uuid()
        async with self.db.session() as s:
            group = None
            if group_uuid:
                group = (
                    await s.execute(select(ServerGroup).where(ServerGroup.uuid == group_uuid))
                ).scalar_one()
            for i, uuid in enumerate(uuids):
                s.add(
                    Instance(
                        uuid=uuid, name=f"vm-{i}", project_id="p1", user_id="u1",
                        flavor_id="1", flavor=dict(flavor or FLAVOR), vm_state="building",
                        task_state="scheduling", group_uuid=group_uuid, launch_index=i,
                        request_id=request_id, **fields,
                    )
                )  # fmt: skip
                s.add(
                    InstanceAction(
                        instance_uuid=uuid, action="create", request_id=request_id,
                        user_id="u1", project_id="p1",
                    )
                )  # fmt: skip
                if group is not None:
                    s.add(ServerGroupMember(group_id=group.id, instance_uuid=uuid))
        if publish:
            await self.bus.publish(
                "conductor",
                {"type": "build", "instance_uuids": uuids, "request_id": request_id},
            )
        return uuids

    async def task(
        self, uuid: str, task_state: str, *, publish: bool = True, **fields: Any
    ) -> None:
        """Write a task as the API does (plus its action), then send the hint."""
        action = {
            "rebooting": "reboot", "rebooting_hard": "reboot", "powering-off": "stop",
            "powering-on": "start", "rebuilding": "rebuild", "deleting": "delete",
        }[task_state]  # fmt: skip
        async with self.db.session() as s:
            inst = (await s.execute(select(Instance).where(Instance.uuid == uuid))).scalar_one()
            inst.task_state = task_state
            inst.task_started_at = None
            for k, v in fields.items():
                setattr(inst, k, v)
            s.add(
                InstanceAction(
                    instance_uuid=uuid, action=action, request_id="req-" + new_uuid(),
                    user_id="u1", project_id="p1",
                )
            )  # fmt: skip
        if publish:
            await self.bus.publish("conductor", {"type": "task", "instance_uuid": uuid})

    async def rows(self, uuids: Sequence[str]) -> list[Instance]:
        async with self.db.session() as s:
            got = (
                await s.execute(select(Instance).where(Instance.uuid.in_(list(uuids))))
            ).scalars()
            by = {i.uuid: i for i in got}
        return [by[u] for u in uuids]

    async def row(self, uuid: str) -> Instance:
        return (await self.rows([uuid]))[0]

    async def wait(
        self, uuids: Sequence[str], pred: Callable[[Instance], bool], limit: float = 30.0
    ) -> list[Instance]:
        """Poll until every row satisfies ``pred`` (a generous cap, not a timing check)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + limit
        while True:
            rows = await self.rows(uuids)
            if all(pred(r) for r in rows):
                return rows
            if loop.time() > end:
                states = [(r.uuid[:8], r.vm_state, r.task_state) for r in rows]
                raise AssertionError(f"rows did not settle: {states}")
            await asyncio.sleep(0.02)

    async def settled(self, uuids: Sequence[str]) -> list[Instance]:
        return await self.wait(uuids, lambda r: r.task_state is None)

    async def host_rows(self) -> list[Host]:
        async with self.db.session() as s:
            return list((await s.execute(select(Host).order_by(Host.id))).scalars())


@pytest.fixture
async def lab(tmp_path: Path, db_url: str) -> AsyncIterator[Lab]:
    db = Database(db_url)
    await db.create_all()
    settings = Settings(
        data_dir=tmp_path,
        lease_seconds=30,
        reconcile_interval_seconds=0.05,
        max_build_attempts=3,
        build_timeout_seconds=300,
    )
    bus = MemoryBus()
    lab = Lab(db, bus, settings, TestAgent(bus))
    yield lab
    for c in lab.conductors:
        await c.stop()
    await bus.close()
    await db.dispose()
