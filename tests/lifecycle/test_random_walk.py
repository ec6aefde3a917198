"""A seeded random walk over the whole lifecycle, with faults (issue 10).

The real API (in process), a ``SchedulerService``, a ``Conductor(remote_scheduling=True)``
and one real ``ComputeAgent`` with a ``FakeDriver`` per host share one database and one
in-memory bus, as ``stockyard up`` wires them. A ``random.Random(seed)`` drives about 50
live servers through 2,000 API actions (create, multi-create, group joins, delete,
soft/hard reboot, stop, start, rebuild), a few at a time, while it injects faults:

- spawn failures: some hosts fail a share of spawns, some servers carry
  ``fake:fail_spawn`` (never build) or ``fake:fail_on_hosts`` (build after a reschedule);
- agent kills: an agent is stopped with its ops in flight (they are lost, the ops it is
  sent while down too) and a new agent is started on the same host (same hypervisor)
  later; the reconciler has to resend what was lost;
- dropped messages: a share of build/task hints, op requests and op results vanish;
- a slow host whose boots outlast an op lease (ops are resent while they run).

409 is a normal answer (the state does not allow the action); any 5xx fails the test.
Afterwards, with every agent up again and no more drops, the cloud must settle within
``build_timeout_seconds`` (plus leases): no server keeps a task, no reconciler pass
failed and no instance was quarantined for an illegal transition, every host's claims
equal the flavors of the live servers placed on it, no address or guest outlives its
server, no idle server shows an unfinished action, no hard group policy is broken, and
(after two more host reports) every idle server's status matches its guest's power.
During the walk a probe compares idle servers with their guests too.

Two bugs the walk found have their own deterministic tests at the end of this module: a
stale host report undoing a stop/start (fixed: reports carry when they were read), and an
op slower than its lease that never completed (fixed: the agent joins a resend of work
already running).

``STOCKYARD_WALK_SEED`` and ``STOCKYARD_WALK_ACTIONS`` override the seed and the length.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from stockyard.bus import contract
from stockyard.bus.base import Handler, Message
from stockyard.bus.memory import MemoryBus
from stockyard.compute.agent import ComputeAgent
from stockyard.compute.drivers.base import PowerState
from stockyard.compute.drivers.fake import FAIL_ON_HOSTS_KEY, FAIL_SPAWN_KEY, FakeDriver
from stockyard.conductor.service import Conductor
from stockyard.db.base import Database, utcnow
from stockyard.db.models import (
    Allocation,
    Flavor,
    Host,
    Image,
    Instance,
    InstanceAction,
    InstanceActionEvent,
    InstanceFault,
    IPAllocation,
    Port,
    Region,
    ServerGroup,
    ServerGroupMember,
)
from stockyard.placement.service import SchedulerService
from stockyard.settings import Settings
from tests.conftest import Cloud

SEED = int(os.environ.get("STOCKYARD_WALK_SEED", "20240610"))
ACTIONS = int(os.environ.get("STOCKYARD_WALK_ACTIONS", "2000"))
TARGET_SERVERS = 50
MICROVERSION = "2.64"

REGION = "RegionOne"
RACKS = 5
HOSTS_PER_RACK = 2
HOST_VCPUS = 24
HOST_RAM = 48 * 1024
HOST_DISK = 400
FLAVORS = {  # flavorid: (vcpus, ram, disk)
    "w1": (1, 512, 5),
    "w2": (2, 2048, 10),
    "w4": (4, 4096, 20),
}

LEASE_SECONDS = 1
BUILD_TIMEOUT = 6
REPORT_INTERVAL = 2.0
HOST_UP_SECONDS = 5.0
WALK_BUDGET_SECONDS = 70.0
"""The walk stops early (and says so) past this, so a slow machine stays under 2 min."""

P_DROP = 0.02
"""Share of hints, op requests and op results lost on the bus during the walk."""
P_KILL = 0.02
"""Chance per wave that a live agent is killed (at most MAX_DEAD down at once)."""
MAX_DEAD = 2
KILL_WAVES = (3, 30)
"""An agent usually stays down for this many waves (drawn uniformly)..."""
P_LONG_KILL = 0.2
LONG_KILL_SECONDS = BUILD_TIMEOUT + 2.0
"""... and sometimes longer than the build timeout: its tasks time out meanwhile."""
SLOW_BOOT_SECONDS = 1.5
"""Boot time of the slow host: longer than an op lease, so ops are resent while they run."""
HOST_FAIL_SHARE = 0.15
"""Share of spawns that fail on the hosts picked as flaky."""

TRANSITIONAL = {"BUILD", "REBOOT", "HARD_REBOOT", "REBUILD"}

UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Short leases and deadlines, so recovery happens within the test; room for 50+."""
    return Settings(
        data_dir=tmp_path,
        api_port=8774,
        fake_boot_seconds=0.0,
        lease_seconds=LEASE_SECONDS,
        build_timeout_seconds=BUILD_TIMEOUT,
        reconcile_interval_seconds=0.3,
        max_build_attempts=3,
        scheduler_refresh_seconds=2.0,
        cpu_allocation_ratio=1.0,
        quota_instances=1000,
        quota_cores=10_000,
        quota_ram=10_000_000,
        quota_server_groups=50,
        quota_server_group_members=1000,
    )


# -- the bus, with faults ----------------------------------------------------------------


class FaultyBus:
    """Drops a share of hint/op/result messages published on the real bus (while on)."""

    DROPPABLE = frozenset({"build", "task", "op_result", "op_request"})

    def __init__(self, bus: MemoryBus, rng: random.Random) -> None:
        self.bus = bus
        self.rng = rng
        self.share = 0.0
        self.dropped: Counter[str] = Counter()
        self.sent: Counter[str] = Counter()
        self._publish = bus.publish

    def install(self) -> None:
        # Every role holds this bus object: patching the instance reaches them all.
        self.bus.publish = self.publish  # type: ignore[method-assign]

    def uninstall(self) -> None:
        self.bus.publish = self._publish  # type: ignore[method-assign]

    async def publish(self, topic: str, message: Message) -> None:
        kind = str(message.get("type", "op_request" if "op" in message else ""))
        if topic.startswith("compute.") and "op" in message:
            kind = "op_request"
        self.sent[f"{topic.split('.')[0]}:{kind}"] += 1
        if self.share and kind in self.DROPPABLE and self.rng.random() < self.share:
            self.dropped[kind] += 1
            return
        await self._publish(topic, message)


class AgentBus:
    """What one agent sees of the bus: its ``compute.<host>`` consumer is routed through
    the harness (so a killed agent's queue keeps being drained, into the void)."""

    def __init__(self, harness: Harness, host: str) -> None:
        self.harness = harness
        self.host = host

    async def start(self) -> None:
        return None

    async def publish(self, topic: str, message: Message) -> None:
        await self.harness.bus.publish(topic, message)

    async def subscribe(self, topic: str, handler: Handler, concurrency: int = 8) -> None:
        assert topic == contract.compute_topic(self.host), topic
        self.harness.handlers[self.host] = handler

    async def close(self) -> None:
        return None

    def healthy(self) -> bool:
        return True


# -- the harness -------------------------------------------------------------------------


@dataclass
class Harness:
    cloud: Cloud
    rng: random.Random
    faults: FaultyBus
    bus: MemoryBus
    image_id: str = ""
    hosts: list[str] = field(default_factory=list)
    drivers: dict[str, FakeDriver] = field(default_factory=dict)
    agents: dict[str, ComputeAgent] = field(default_factory=dict)
    handlers: dict[str, Handler | None] = field(default_factory=dict)
    down_until: dict[str, tuple[int, float]] = field(default_factory=dict)
    """Killed agents: host -> (wave, monotonic time) after which a new agent starts."""
    mismatches: list[str] = field(default_factory=list)
    probes: int = 0
    lost_ops: int = 0
    api_seconds: float = 0.0
    groups: dict[str, str] = field(default_factory=dict)
    """Group uuid -> policy label."""
    live: list[str] = field(default_factory=list)
    gone: set[str] = field(default_factory=set)
    status: Counter[str] = field(default_factory=Counter)
    done: Counter[str] = field(default_factory=Counter)
    faults_injected: Counter[str] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)

    # -- setup -------------------------------------------------------------------------

    async def seed(self) -> None:
        async with self.cloud.state.db.session() as s:
            s.add(Region(id=REGION, cidr="10.20.0.0/16"))
            for flavorid, (vcpus, ram, disk) in FLAVORS.items():
                s.add(Flavor(flavorid=flavorid, name=f"walk.{flavorid}", vcpus=vcpus, ram=ram,
                             disk=disk))  # fmt: skip
            image = Image(
                name="tiny", status="active", visibility="public", disk_format="raw",
                container_format="bare", size=10, owner=self.cloud.seeded.admin_project_id,
            )  # fmt: skip
            s.add(image)
            for r in range(RACKS):
                for i in range(HOSTS_PER_RACK):
                    name = f"hv-r{r}-{i}"
                    s.add(
                        Host(
                            name=name, region=REGION, az="az1", rack=f"rack{r}",
                            vcpus=HOST_VCPUS, memory_mb=HOST_RAM, local_gb=HOST_DISK,
                            cpu_allocation_ratio=1.0, ram_allocation_ratio=1.0,
                            disk_allocation_ratio=1.0,
                        )
                    )  # fmt: skip
                    self.hosts.append(name)
            await s.flush()
            self.image_id = image.id
        flaky = set(self.rng.sample(self.hosts, 3))
        slow = self.rng.choice(self.hosts)
        for i, host in enumerate(self.hosts):
            self.drivers[host] = FakeDriver(
                host, vcpus=HOST_VCPUS, memory_mb=HOST_RAM, local_gb=HOST_DISK,
                boot_seconds=SLOW_BOOT_SECONDS if host == slow else 0.01,
                fail_spawn=HOST_FAIL_SHARE if host in flaky else False, seed=SEED + i,
            )  # fmt: skip
            # One consumer per host topic for the whole test (in order, as the agent's
            # own), handing ops to the agent alive at the time (none while it is down:
            # the op is lost).
            await self.bus.subscribe(contract.compute_topic(host), self._route(host), 1)

    def _route(self, host: str) -> Handler:
        async def route(message: Message) -> None:
            handler = self.handlers.get(host)
            if handler is None:
                self.lost_ops += 1
                return
            await handler(message)

        return route

    async def start_agent(self, host: str) -> None:
        agent = ComputeAgent(
            host, self.drivers[host], AgentBus(self, host), report_interval=REPORT_INTERVAL
        )
        await agent.start()
        self.agents[host] = agent

    async def kill_agent(self, host: str) -> None:
        self.handlers[host] = None
        agent = self.agents.pop(host)
        self.lost_ops += agent.ops_in_flight
        await agent.stop()

    # -- the API -----------------------------------------------------------------------

    @property
    def headers(self) -> dict[str, str]:
        return self.cloud.headers(self.cloud.demo_token, MICROVERSION)

    async def call(
        self, label: str, method: str, url: str, body: dict[str, Any] | None, ok: set[int]
    ) -> httpx.Response:
        t0 = time.monotonic()
        r = await self.cloud.client.request(
            method, "/compute/v2.1" + url, json=body, headers=self.headers
        )
        self.api_seconds += time.monotonic() - t0
        self.status[f"{r.status_code}"] += 1
        if r.status_code >= 500:
            self.server_errors.append(f"{label} {method} {url} -> {r.status_code}: {r.text[:300]}")
        elif r.status_code not in ok and r.status_code != 409:
            self.unexpected.append(f"{label} {method} {url} -> {r.status_code}: {r.text[:300]}")
        elif r.status_code < 400:
            self.done[label] += 1
        else:
            self.done[f"{label}:{r.status_code}"] += 1
        return r

    async def make_groups(self) -> None:
        specs: list[tuple[str, str, dict[str, Any]]] = [
            ("aa-host", "anti-affinity", {}),
            ("aa-rack", "anti-affinity", {"failure_domain": "rack"}),
            ("aa-max2", "anti-affinity", {"max_server_per_host": 2}),
            ("saa-host", "soft-anti-affinity", {}),
            ("saa-rack", "soft-anti-affinity", {"failure_domain": "rack"}),
            ("aff-host", "affinity", {}),
            ("saff-rack", "soft-affinity", {"failure_domain": "rack"}),
        ]
        for name, policy, rules in specs:
            body = {"server_group": {"name": name, "policy": policy, "rules": rules}}
            r = await self.call("group", "POST", "/os-server-groups", body, {200})
            assert r.status_code == 200, r.text
            self.groups[r.json()["server_group"]["id"]] = name

    async def create(self) -> None:
        rng = self.rng
        server: dict[str, Any] = {
            "name": f"walk-{self.done['create'] + self.done['create:403']}",
            "flavorRef": rng.choice(list(FLAVORS)),
            "imageRef": self.image_id,
            "networks": rng.choice(["auto", "auto", "auto", "none"]),
        }
        roll = rng.random()
        if roll < 0.04:
            server["metadata"] = {FAIL_SPAWN_KEY: "true"}
            self.faults_injected["server fails every spawn"] += 1
        elif roll < 0.12:
            server["metadata"] = {FAIL_ON_HOSTS_KEY: ",".join(rng.sample(self.hosts, 2))}
            self.faults_injected["server fails on 2 hosts"] += 1
        if rng.random() < 0.2:
            n = rng.randint(2, 3)
            server["min_count"] = server["max_count"] = n
        body: dict[str, Any] = {"server": server}
        if rng.random() < 0.45:
            body["os:scheduler_hints"] = {"group": rng.choice(sorted(self.groups))}
            self.done["group join"] += 1
        if "max_count" in server:
            server["return_reservation_id"] = True
        r = await self.call("create", "POST", "/servers", body, {202})
        if r.status_code != 202:
            return
        if "reservation_id" in r.json():
            rid = r.json()["reservation_id"]
            listed = await self.call("list", "GET", f"/servers?reservation_id={rid}", None, {200})
            self.live.extend(s["id"] for s in listed.json()["servers"])
        else:
            self.live.append(r.json()["server"]["id"])

    async def act(self, uuid: str) -> None:
        rng = self.rng
        kind = rng.choices(
            ["delete", "reboot_soft", "reboot_hard", "stop", "start", "rebuild"],
            weights=[len(self.live) / TARGET_SERVERS * 2.0, 3, 1.5, 3, 3, 1.5],
        )[0]
        url = f"/servers/{uuid}"
        if kind == "delete":
            r = await self.call("delete", "DELETE", url, None, {204})
            if r.status_code == 204 and uuid in self.live:
                self.live.remove(uuid)
                self.gone.add(uuid)
            return
        body: dict[str, Any] = {
            "reboot_soft": {"reboot": {"type": "SOFT"}},
            "reboot_hard": {"reboot": {"type": "HARD"}},
            "stop": {"os-stop": None},
            "start": {"os-start": None},
            "rebuild": {"rebuild": {"imageRef": self.image_id}},
        }[kind]
        await self.call(kind, "POST", url + "/action", body, {202})

    async def act_on_gone(self, uuid: str) -> None:
        """A deleted server: a second delete is 204 (still deleting) or 404."""
        await self.call("delete again", "DELETE", f"/servers/{uuid}", None, {204, 404})

    def step(self) -> Awaitable[None]:
        rng = self.rng
        want_create = max(0.05, (TARGET_SERVERS - len(self.live)) / TARGET_SERVERS)
        if not self.live or rng.random() < want_create * 0.6:
            return self.create()
        if self.gone and rng.random() < 0.03:
            return self.act_on_gone(rng.choice(sorted(self.gone)))
        return self.act(rng.choice(self.live))

    # -- faults ------------------------------------------------------------------------

    async def faults_tick(self, wave: int) -> None:
        rng = self.rng
        now = time.monotonic()
        for host, (until_wave, until_time) in sorted(self.down_until.items()):
            if wave >= until_wave and now >= until_time:
                del self.down_until[host]
                await self.start_agent(host)
        if len(self.down_until) < MAX_DEAD and rng.random() < P_KILL:
            host = rng.choice([h for h in self.hosts if h not in self.down_until])
            if rng.random() < P_LONG_KILL:
                self.down_until[host] = (wave, now + LONG_KILL_SECONDS)
                self.faults_injected["long agent kills"] += 1
            else:
                self.down_until[host] = (wave + rng.randint(*KILL_WAVES), now)
                self.faults_injected["agent kills"] += 1
            await self.kill_agent(host)

    async def probe_power(self) -> None:
        """Idle servers must show their guest's real power: ACTIVE is running, SHUTOFF off.

        The hypervisors are read first (at once, nothing can run in between), then the
        rows: only rows idle and last written before that read are judged, so an op or a
        report applied since cannot make a false alarm.
        """
        self.probes += 1
        seen = {
            host: {u: g.power_state for u, g in d.guests.items()}
            for host, d in self.drivers.items()
        }
        at = utcnow() - timedelta(milliseconds=50)
        async with self.cloud.state.db.session() as s:
            rows = (
                await s.execute(
                    select(Instance.uuid, Instance.host, Instance.vm_state).where(
                        Instance.deleted.is_(False),
                        Instance.task_state.is_(None),
                        Instance.vm_state.in_(["active", "stopped"]),
                        Instance.host.is_not(None),
                        Instance.updated_at < at,
                    )
                )
            ).all()
        want = {"active": PowerState.RUNNING, "stopped": PowerState.SHUTDOWN}
        for uuid, host, vm_state in rows:
            power = seen.get(str(host), {}).get(uuid)
            if power is not want[vm_state]:
                got = "no guest" if power is None else power.name
                self.mismatches.append(f"{uuid} {vm_state} on {host}, guest: {got}")

    async def revive_all(self) -> None:
        for host in sorted(self.down_until):
            await self.start_agent(host)
        self.down_until.clear()


# -- checks ------------------------------------------------------------------------------


def _domain(host: Host, level: str) -> str:
    return {
        "host": host.name,
        "rack": f"{host.region}/{host.az}/{host.rack}",
        "az": f"{host.region}/{host.az}",
        "region": host.region,
    }[level]


async def _history(h: Harness, uuids: list[str]) -> str:
    """The actions, events and faults of these servers, oldest first, one per line."""
    lines: list[str] = []
    async with h.cloud.state.db.session() as s:
        for uuid in sorted(set(uuids))[:3]:
            lines.append(f"  history of {uuid}:")
            rows = await s.execute(
                select(InstanceAction, InstanceActionEvent)
                .outerjoin(InstanceActionEvent, InstanceActionEvent.action_id == InstanceAction.id)
                .where(InstanceAction.instance_uuid == uuid)
                .order_by(InstanceAction.id, InstanceActionEvent.id)
            )
            for action, event in rows:
                ev = "" if event is None else f" {event.event} {event.result} {event.finish_time}"
                lines.append(f"    {action.start_time} {action.action}{ev}")
            for fault in await s.scalars(
                select(InstanceFault).where(InstanceFault.instance_uuid == uuid)
            ):
                lines.append(f"    {fault.created_at} fault: {fault.message}")
    return "\n".join(lines)


async def settle(h: Harness, conductor: Conductor, limit: float) -> float:
    """Wait until no server has a task and a reconciler pass finds nothing; seconds taken."""
    db = h.cloud.state.db
    start = time.monotonic()
    quiet = 0
    while True:
        async with db.session() as s:
            busy = (
                await s.execute(
                    select(Instance.uuid, Instance.vm_state, Instance.task_state).where(
                        Instance.deleted.is_(False), Instance.task_state.is_not(None)
                    )
                )
            ).all()
        if not busy:
            if await conductor.reconciler.run_once() == 0:
                quiet += 1
                if quiet >= 3:
                    return time.monotonic() - start
            await asyncio.sleep(0.2)
            continue
        quiet = 0
        if time.monotonic() - start > limit:
            shown = ", ".join(f"{u[:8]} {vm}/{task}" for u, vm, task in busy[:20])
            raise AssertionError(f"{len(busy)} server(s) still transitional: {shown}")
        await asyncio.sleep(0.1)


async def check_invariants(h: Harness) -> list[str]:
    """Every broken invariant, as a readable line (empty when all hold)."""
    problems: list[str] = []
    async with h.cloud.state.db.session() as s:
        hosts = {x.name: x for x in (await s.execute(select(Host))).scalars()}
        by_id = {x.id: x for x in hosts.values()}
        rows = list((await s.execute(select(Instance))).scalars())
        allocs = list((await s.execute(select(Allocation))).scalars())
        ports = list((await s.execute(select(Port))).scalars())
        addresses = list((await s.execute(select(IPAllocation))).scalars())
        groups = list((await s.execute(select(ServerGroup))).scalars())
        members = (
            await s.execute(select(ServerGroupMember.group_id, ServerGroupMember.instance_uuid))
        ).all()
        newest = (
            select(InstanceAction.instance_uuid, func.max(InstanceAction.id).label("id"))
            .group_by(InstanceAction.instance_uuid)
            .subquery()
        )
        open_actions = (
            await s.execute(
                select(InstanceAction.instance_uuid, InstanceAction.action)
                .join(newest, newest.c.id == InstanceAction.id)
                .where(InstanceAction.finish_time.is_(None))
            )
        ).all()
    live = {r.uuid: r for r in rows if not r.deleted}
    for r in live.values():
        if r.task_state is not None or r.vm_state not in {"active", "stopped", "error"}:
            problems.append(f"server {r.uuid} left in {r.vm_state}/{r.task_state}")
    # os-instance-actions: no idle (or deleted) server shows its last action in progress.
    for uuid, action in open_actions:
        problems.append(f"server {uuid} is idle but its {action} action never finished")
    # Capacity: Host.*_used == sum of allocations == sum of flavors of live servers there.
    want: dict[str, list[int]] = {name: [0, 0, 0, 0] for name in hosts}
    for r in live.values():
        if r.host is None:
            continue
        f = r.flavor or {}
        disk = int(f.get("disk") or 0) + int(f.get("ephemeral") or 0)
        for i, v in enumerate((int(f.get("vcpus") or 0), int(f.get("ram") or 0), disk, 1)):
            want[r.host][i] += v
    held: dict[str, list[int]] = {name: [0, 0, 0, 0] for name in hosts}
    for a in allocs:
        name = by_id[a.host_id].name
        inst = live.get(a.instance_uuid)
        if inst is None or inst.host != name:
            where = "deleted" if inst is None else f"on {inst.host}"
            problems.append(f"allocation of {a.instance_uuid} on {name}, server is {where}")
        for i, v in enumerate((a.vcpus, a.memory_mb, a.disk_gb, 1)):
            held[name][i] += v
    for name, host in sorted(hosts.items()):
        used = [host.vcpus_used, host.memory_mb_used, host.local_gb_used, host.running_vms]
        if not used == held[name] == want[name]:
            problems.append(
                f"capacity leak on {name}: host columns (vcpus, ram, disk, vms) {used},"
                f" allocations {held[name]}, live servers' flavors {want[name]}"
            )
    for r in live.values():
        if r.host is not None and r.uuid not in {a.instance_uuid for a in allocs}:
            problems.append(f"server {r.uuid} placed on {r.host} holds no allocation")
    # Ports (and their addresses) live exactly as long as their server.
    port_device = {p.id: p.device_id for p in ports}
    for port in ports:
        if port.device_id not in live:
            problems.append(f"port {port.id} still held by deleted {port.device_id}")
    for addr in addresses:
        if port_device.get(addr.port_id) not in live:
            problems.append(f"address {addr.ip_address} still held by a deleted server's port")
    # Guests: none on a hypervisor for a deleted server or one placed elsewhere.
    for host, driver in sorted(h.drivers.items()):
        for uuid in sorted(driver.guests):
            inst = live.get(uuid)
            if inst is None or inst.host != host:
                where = "deleted" if inst is None else f"placed on {inst.host}"
                problems.append(f"guest {uuid} left on {host}, server is {where}")
    # Hard group policies over the group's live, placed members.
    by_group: dict[int, list[Instance]] = {}
    for gid, uuid in members:
        inst = live.get(uuid)
        if inst is not None and inst.host is not None:
            by_group.setdefault(gid, []).append(inst)
    for g in groups:
        level = (g.rules or {}).get("failure_domain") or "host"
        placed = by_group.get(g.id, [])
        domains = Counter(_domain(hosts[i.host], level) for i in placed if i.host)
        if g.policy == "anti-affinity":
            limit = 1
            if level == "host" and (g.rules or {}).get("max_server_per_host"):
                limit = int(g.rules["max_server_per_host"])
            over = {d: n for d, n in domains.items() if n > limit}
            if over:
                problems.append(f"group {g.name} (anti-affinity/{level}, {limit}): {over}")
        elif g.policy == "affinity" and len(domains) > 1:
            problems.append(f"group {g.name} (affinity/{level}) spread over {dict(domains)}")
    return problems


# -- the test ----------------------------------------------------------------------------


async def test_random_walk_settles_without_leaks(
    cloud: Cloud, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    started = time.monotonic()
    rng = random.Random(SEED)
    bus = cloud.state.bus
    assert isinstance(bus, MemoryBus)
    faults = FaultyBus(bus, random.Random(SEED + 1))
    faults.install()
    h = Harness(cloud, rng, faults, bus)
    await h.seed()
    scheduler = SchedulerService(
        cloud.state.db, bus, settings, scheduler_id="sched-walk", host_up_seconds=HOST_UP_SECONDS
    )
    conductor = Conductor(
        cloud.state.db, bus, settings, conductor_id="cond-walk", remote_scheduling=True,
        host_refresh_seconds=2.0, host_up_seconds=HOST_UP_SECONDS,
    )  # fmt: skip
    stoppables: list[Callable[[], Awaitable[None]]] = []
    try:
        await scheduler.start()
        stoppables.append(scheduler.stop)
        await conductor.start()
        stoppables.append(conductor.stop)
        for host in h.hosts:
            await h.start_agent(host)
        # The agents' first reports mark the hosts up for the scheduler.
        await asyncio.sleep(0.3)
        await scheduler.hosts.refresh()
        await h.make_groups()

        faults.share = P_DROP
        wave = 0
        actions = 0
        while actions < ACTIONS and time.monotonic() - started < WALK_BUDGET_SECONDS:
            await h.faults_tick(wave)
            n = min(rng.choice([1, 2, 4, 6, 8]), ACTIONS - actions)
            await asyncio.gather(*(h.step() for _ in range(n)))
            actions += n
            wave += 1
            pause = rng.choice([0.0, 0.0, 0.0, 0.005, 0.01])
            await asyncio.sleep(pause)
            if wave % 10 == 0:
                await h.probe_power()
        walk_seconds = time.monotonic() - started

        # Settle: no more faults, every agent up; the reconciler must finish the rest.
        faults.share = 0.0
        await h.revive_all()
        settle_seconds = await settle(h, conductor, limit=BUILD_TIMEOUT + 4 * LEASE_SECONDS + 10)
        problems = await check_invariants(h)
        # Power: after two more rounds of host reports, every idle server shows its guest.
        walk_mismatches, h.mismatches = h.mismatches, []
        await asyncio.sleep(REPORT_INTERVAL + 1.0)
        await h.probe_power()
        final_mismatches = h.mismatches
        # What happened to them, for the failure message (the walk is timing-dependent).
        history = await _history(h, [m.split()[0] for m in walk_mismatches + final_mismatches])
        listed = await h.call("list", "GET", "/servers/detail", None, {200})
        statuses = Counter(s["status"] for s in listed.json()["servers"])
    finally:
        for host in list(h.agents):
            await h.agents.pop(host).stop()
        for stop in reversed(stoppables):
            await stop()
        faults.uninstall()

    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    pass_failures = [r for r in errors if "reconciler pass failed" in r.getMessage()]
    illegal = [
        r
        for r in caplog.records
        if "IllegalTransition" in r.getMessage()
        or (r.exc_info and "IllegalTransition" in repr(r.exc_info[1]))
    ]
    warnings = Counter(
        UUID_RE.sub("<uuid>", r.getMessage())[:70]
        for r in caplog.records
        if r.levelno == logging.WARNING
    )
    total = time.monotonic() - started
    cut = f" (of {ACTIONS}: cut short by the time budget)" if actions < ACTIONS else ""
    print(
        f"\nrandom walk seed={SEED}: {actions} actions{cut} in {wave} waves,"
        f" walk {walk_seconds:.1f}s,"
        f" settled in {settle_seconds:.1f}s, total {total:.1f}s\n"
        f"  done: {dict(sorted(h.done.items()))}\n"
        f"  HTTP: {dict(sorted(h.status.items()))}\n"
        f"  faults: {dict(h.faults_injected)}, dropped {dict(faults.dropped)},"
        f" ops lost to dead agents {h.lost_ops}\n"
        f"  final servers: {dict(statuses)} ({len(h.live)} live)\n"
        f"  warnings: {dict(warnings.most_common(8))}\n"
        f"  errors logged: {len(errors)}\n"
        f"  messages: {dict(faults.sent)}, API time {h.api_seconds:.1f}s\n"
        f"  power probes: {h.probes}, mismatches during the walk {len(walk_mismatches)}:"
        f" {walk_mismatches[:5]}\n{history}"
    )
    assert not h.server_errors, "5xx answers:\n" + "\n".join(h.server_errors[:10])
    assert not h.unexpected, "unexpected answers:\n" + "\n".join(h.unexpected[:10])
    assert not pass_failures, pass_failures[0].getMessage()
    assert not illegal, "\n".join(r.getMessage() for r in illegal[:5])
    assert not (set(statuses) & TRANSITIONAL), statuses
    assert not problems, "\n".join(problems[:30])
    assert not final_mismatches, "\n".join(final_mismatches[:10])
    assert not walk_mismatches, "\n".join(walk_mismatches[:10])
    assert not errors, "\n".join(f"{r.name}: {r.getMessage()}" for r in errors[:10])


# -- the bugs the walk found, on their own ------------------------------


@pytest.mark.parametrize("batched", [False, True], ids=["host_report", "host_reports"])
async def test_stale_host_report_does_not_undo_a_stop(tmp_path: Path, batched: bool) -> None:
    """Reports and op results travel apart (and are applied concurrently): a report that
    was read while the guest ran must not overrule the stop the conductor applied since.
    A ``host_reports`` batch even says when it was read (``taken_at``)."""
    from tests.conductor.conftest import Lab, TestAgent

    db_path = tmp_path / "stale.db"
    db = Database(f"sqlite+aiosqlite:///{db_path}")
    await db.create_all()
    bus = MemoryBus()
    lab = Lab(db, bus, Settings(data_dir=tmp_path, lease_seconds=30), TestAgent(bus))
    (host,) = await lab.add_hosts(1, serve=False)
    agent = ComputeAgent(host, FakeDriver(host), bus, report_interval=3600)
    await lab.start()
    await agent.subscribe()
    try:
        (uuid,) = await lab.create(1)
        await lab.settled([uuid])
        report = await agent.host_report()  # read while the guest runs...
        read_at = time.time()
        await lab.task(uuid, "powering-off")
        (row,) = await lab.settled([uuid])
        assert row.vm_state == "stopped"
        assert agent.driver.guests[uuid].power_state is PowerState.SHUTDOWN
        # ... and applied after the stop's result.
        if batched:
            batch = contract.HostReports(taken_at=read_at, reports=[report])
            await lab.conductor.handle(contract.encode(batch))
        else:
            await lab.conductor.handle(report)
        row = await lab.row(uuid)
        assert (row.vm_state, row.power_state) == ("stopped", PowerState.SHUTDOWN)
    finally:
        await agent.stop()
        for c in lab.conductors:
            await c.stop()
        await bus.close()
        await db.dispose()


async def test_op_slower_than_its_lease_completes(tmp_path: Path) -> None:
    """The walk's slow host (boots take longer than an op lease) times its reboots and
    rebuilds out. Here: a reboot of 0.5 s with an op lease of 0.3 s and a 3 s deadline."""
    from tests.conductor.conftest import Lab, TestAgent

    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'slow.db'}")
    await db.create_all()
    bus = MemoryBus()
    settings = Settings(
        data_dir=tmp_path, lease_seconds=30, build_timeout_seconds=3,
        reconcile_interval_seconds=0.05,
    )  # fmt: skip
    lab = Lab(db, bus, settings, TestAgent(bus))
    (host,) = await lab.add_hosts(1, serve=False)
    driver = FakeDriver(host)
    agent = ComputeAgent(host, driver, bus, report_interval=3600)
    await lab.start(op_lease_seconds=0.3, orphan_grace_seconds=0.05)
    await agent.subscribe()
    reconciling = asyncio.create_task(lab.conductor.reconciler.run_forever())
    try:
        (uuid,) = await lab.create(1)
        await lab.settled([uuid])
        driver.boot_seconds = 0.5
        await lab.task(uuid, "rebooting")
        (row,) = await lab.wait([uuid], lambda r: r.task_state is None, limit=10.0)
        boots = driver.guests[uuid].boot_count
        assert row.vm_state == "active", f"{row.vm_state} after {boots} boots"
    finally:
        reconciling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reconciling
        await agent.stop()
        for c in lab.conductors:
            await c.stop()
        await bus.close()
        await db.dispose()
