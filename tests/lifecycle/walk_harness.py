"""The random walk's harness: its parameters, the faulty bus, and the driver of API
actions, agents and faults (see ``test_random_walk``)."""

from __future__ import annotations

import os
import random
import re
import time
from collections import Counter
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select

from stockyard.bus import contract
from stockyard.bus.base import Handler, Message
from stockyard.bus.memory import MemoryBus
from stockyard.compute.agent import ComputeAgent
from stockyard.compute.drivers.base import PowerState
from stockyard.compute.drivers.fake import FAIL_ON_HOSTS_KEY, FAIL_SPAWN_KEY, FakeDriver
from stockyard.db.base import utcnow
from stockyard.db.models import (
    Flavor,
    Host,
    Image,
    Instance,
    Region,
)
from tests.conftest import Cloud

SEED = int(os.environ.get("STOCKYARD_WALK_SEED", "20240610"))
ACTIONS = int(os.environ.get("STOCKYARD_WALK_ACTIONS", "2000"))
TARGET_SERVERS = 50
MICROVERSION = "2.64"
V2 = "/network/v2.0"
VOLUME = "/volume/v3"

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
    network_id: str | None = None
    """The shared network servers are attached to (the region's provider network)."""
    rule_id: str | None = None
    """The rule the walk added to the project's default group, while it is there."""
    volumes: list[str] = field(default_factory=list)
    """Volumes the walk made and has not deleted."""

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
        self,
        label: str,
        method: str,
        url: str,
        body: dict[str, Any] | None,
        ok: set[int],
        api: str = "/compute/v2.1",
    ) -> httpx.Response:
        t0 = time.monotonic()
        r = await self.cloud.client.request(method, api + url, json=body, headers=self.headers)
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
            [
                "delete", "reboot_soft", "reboot_hard", "stop", "start", "rebuild", "ports",
                "rule", "volumes",
            ],
            weights=[len(self.live) / TARGET_SERVERS * 2.0, 3, 1.5, 3, 3, 1.5, 2, 0.3, 2],
        )[0]  # fmt: skip
        if kind == "ports":
            return await self.ports(uuid)
        if kind == "volumes":
            return await self.volume_step(uuid)
        if kind == "rule":
            return await self.toggle_rule()
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

    async def ports(self, uuid: str) -> None:
        """Attach an interface, detach one, or flip a port's admin state: the port and
        the server are written by the API and by interface and port-sync results."""
        rng = self.rng
        url = f"/servers/{uuid}/os-interface"
        r = await self.call("interfaces", "GET", url, None, {200, 404})
        if r.status_code != 200:
            return
        attached = [a["port_id"] for a in r.json()["interfaceAttachments"]]
        roll = rng.random()
        if attached and roll < 0.3:
            port = rng.choice(attached)
            body = {"port": {"admin_state_up": rng.random() < 0.5}}
            await self.call("port update", "PUT", f"/ports/{port}", body, {200, 404}, V2)
        elif attached and (len(attached) >= 3 or roll < 0.65):
            await self.call("detach", "DELETE", f"{url}/{rng.choice(attached)}", None, {202, 404})
        elif (net := await self.shared_network()) is not None:
            body = {"interfaceAttachment": {"net_id": net}}
            await self.call("attach", "POST", url, body, {200, 404})

    async def volume_step(self, uuid: str) -> None:
        """Make a volume, attach one to the server, detach one, or delete one. A volume
        in the wrong state for it is the API's 400 (Nova's and Cinder's answer)."""
        rng = self.rng
        url = f"/servers/{uuid}/os-volume_attachments"
        roll = rng.random()
        if not self.volumes or roll < 0.15:
            r = await self.call("volume create", "POST", "/volumes", {"volume": {"size": 1}},
                                {202}, VOLUME)  # fmt: skip
            if r.status_code == 202:
                self.volumes.append(r.json()["volume"]["id"])
            return
        if roll < 0.25:
            vid = rng.choice(self.volumes)
            r = await self.call("volume delete", "DELETE", f"/volumes/{vid}", None,
                                {202, 400, 404}, VOLUME)  # fmt: skip
            if r.status_code in (202, 404):
                self.volumes.remove(vid)
            return
        r = await self.call("volume attachments", "GET", url, None, {200, 404})
        if r.status_code != 200:
            return
        attached = [a["volumeId"] for a in r.json()["volumeAttachments"]]
        if attached and roll < 0.6:
            vid = rng.choice(attached)
            await self.call("volume detach", "DELETE", f"{url}/{vid}", None, {202, 400, 404})
        else:
            body = {"volumeAttachment": {"volumeId": rng.choice(self.volumes)}}
            await self.call("volume attach", "POST", url, body, {200, 400, 404})

    async def shared_network(self) -> str | None:
        """The provider network, once a first server's port made it."""
        if self.network_id is None:
            r = await self.call("networks", "GET", "/networks?shared=true", None, {200}, V2)
            nets = r.json()["networks"] if r.status_code == 200 else []
            self.network_id = nets[0]["id"] if nets else None
        return self.network_id

    async def toggle_rule(self) -> None:
        """Add or remove a rule of the project's default group: every member's host
        re-applies its ports."""
        if self.rule_id is not None:
            url = f"/security-group-rules/{self.rule_id}"
            # 404: a step of the same wave deleted it first (Neutron's second delete).
            r = await self.call("rule delete", "DELETE", url, None, {204, 404}, V2)
            if r.status_code in (204, 404):
                self.rule_id = None
            return
        r = await self.call("groups", "GET", "/security-groups?name=default", None, {200}, V2)
        groups = r.json()["security_groups"] if r.status_code == 200 else []
        if not groups:
            return
        rule = {
            "security_group_id": groups[0]["id"], "direction": "ingress", "ethertype": "IPv4",
            "protocol": "tcp", "port_range_min": 22, "port_range_max": 22,
            "remote_ip_prefix": "0.0.0.0/0",
        }  # fmt: skip
        r = await self.call("rule add", "POST", "/security-group-rules",
                            {"security_group_rule": rule}, {201}, V2)  # fmt: skip
        if r.status_code == 201:
            self.rule_id = r.json()["security_group_rule"]["id"]

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
