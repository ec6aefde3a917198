"""hwmgr's periodic power sync against the real emulated BMCs (sushy-tools Redfish, the
pyghmi IPMI endpoints) and a TCP port that never answers.

Passes are run one at a time (``sync_once``) except where the loop itself is the subject;
nothing is timed: each wait polls with a generous deadline and asserts what happened.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from stockyard.hwmgr.bmc.base import BMC
from stockyard.hwmgr.bmcport import BMCLike, BMCTarget
from stockyard.hwmgr.db.locks import try_lock, unlock
from stockyard.hwmgr.emulators.faults import BlackholeTCP
from stockyard.hwmgr.emulators.ipmi import IpmiNodeSpec
from stockyard.hwmgr.emulators.ipmi_emulator import IpmiEmulator
from stockyard.hwmgr.emulators.redfish import RedfishEmulator, SystemSpec
from stockyard.hwmgr.powersync import PassResult, PowerSync
from stockyard.hwmgr.service import HwmgrService
from tests.hwmgr.conftest import TOKEN, make_settings, node_body

SYNC_LOG = "stockyard.hwmgr.powersync"


@dataclass
class SyncLab:
    """hwmgr (its own sync off) and managed nodes: rf1, rf2 (Redfish), ip1, ip2 (IPMI)."""

    service: HwmgrService
    client: httpx.AsyncClient
    redfish: RedfishEmulator
    ipmi: IpmiEmulator
    systems: dict[str, SystemSpec]
    uuids: dict[str, str]

    def sync(self, factory: Callable[[BMCTarget], BMCLike] | None = None, **kw: Any) -> PowerSync:
        state = self.service.state
        assert state is not None
        kw.setdefault("interval", 0)
        return PowerSync(state.db, state.box, factory or self.service.sync_bmc_factory, **kw)

    async def node(self, name: str) -> dict[str, Any]:
        r = await self.client.get(f"/v1/nodes/{self.uuids[name]}")
        assert r.status_code == 200, r.text
        node: dict[str, Any] = r.json()
        return node

    async def redfish_reset(self, name: str, reset_type: str) -> None:
        """What someone at the BMC's web page does: no hwmgr involved."""
        path = self.redfish.system_path(self.systems[name])
        auth = (self.redfish.username, self.redfish.password.get_secret_value())
        async with httpx.AsyncClient(base_url=self.redfish.url, auth=auth) as rf:
            r = await rf.post(
                f"{path}/Actions/ComputerSystem.Reset", json={"ResetType": reset_type}
            )
        assert r.status_code < 300, r.text

    async def redfish_power(self, name: str) -> str:
        auth = (self.redfish.username, self.redfish.password.get_secret_value())
        async with httpx.AsyncClient(base_url=self.redfish.url, auth=auth) as rf:
            r = await rf.get(self.redfish.system_path(self.systems[name]))
        return str(r.json()["PowerState"]).lower()


async def _enroll(client: httpx.AsyncClient, name: str, bmc: dict[str, Any], i: int) -> str:
    r = await client.post("/v1/nodes", json=node_body(name, f"52:54:00:00:07:{i:02x}", bmc))
    assert r.status_code == 201, r.text
    uuid = str(r.json()["uuid"])
    r = await client.post(f"/v1/nodes/{uuid}/manage")
    assert r.status_code == 200, r.text
    return uuid


async def start_sync_lab(
    tmp_path: Path, redfish: RedfishEmulator, ipmi: IpmiEmulator, **overrides: Any
) -> SyncLab:
    settings = make_settings(
        tmp_path / "hwmgr",
        Fernet.generate_key().decode(),
        # Short, so dead BMCs fail fast; not below a cold IPMI login on a busy machine.
        bmc_call_timeout_seconds=3.0,
        **{"power_sync_interval_seconds": 0, **overrides},
    )
    service = HwmgrService(settings, host_id="sync-tests")
    await service.start()
    client = httpx.AsyncClient(base_url=service.url, headers={"X-Auth-Token": TOKEN}, timeout=60)
    systems = {s.name: s for s in redfish.systems}
    uuids: dict[str, str] = {}
    for i, name in enumerate(sorted(systems)):
        bmc = {
            "driver": "redfish",
            "address": redfish.host,
            "port": redfish.port,
            "system_id": systems[name].uuid,
            "username": redfish.username,
            "password": redfish.password.get_secret_value(),
        }
        uuids[name] = await _enroll(client, name, bmc, i)
    for i, (name, spec) in enumerate(sorted(ipmi.nodes.items()), start=len(uuids)):
        bmc = {
            "driver": "ipmi",
            "address": ipmi.address,
            "port": ipmi.port(name),
            "username": spec.username,
            "password": spec.password.get_secret_value(),
        }
        uuids[name] = await _enroll(client, name, bmc, i)
    return SyncLab(service, client, redfish, ipmi, systems, uuids)


@pytest.fixture
async def emulators() -> AsyncIterator[tuple[RedfishEmulator, IpmiEmulator]]:
    systems = [SystemSpec(name="rf1"), SystemSpec(name="rf2")]
    ipmi_nodes = [IpmiNodeSpec(name="ip1"), IpmiNodeSpec(name="ip2")]
    async with RedfishEmulator(systems, power_delay=0) as rf, IpmiEmulator(ipmi_nodes) as ipmi:
        yield rf, ipmi


@pytest.fixture
async def slab(
    tmp_path: Path, emulators: tuple[RedfishEmulator, IpmiEmulator]
) -> AsyncIterator[SyncLab]:
    lab = await start_sync_lab(tmp_path, *emulators)
    try:
        yield lab
    finally:
        await lab.client.aclose()
        await lab.service.stop()


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 60.0) -> None:  # noqa: ASYNC109
    async with asyncio.timeout(timeout):
        while not await check():  # noqa: ASYNC110 - polls HTTP and BMCs
            await asyncio.sleep(0.1)


async def test_a_power_change_behind_hwmgrs_back_is_recorded_not_undone(slab: SyncLab) -> None:
    assert {(await slab.node(n))["power_state"] for n in slab.uuids} == {"off"}
    await slab.redfish_reset("rf1", "On")
    await slab.ipmi.set("ip1", "power", "on")  # someone pressed the button
    calls_before = (await slab.ipmi.state("ip1"))["calls"]
    sync = slab.sync()

    async def recorded() -> bool:
        await sync.sync_once()
        return [(await slab.node(n))["power_state"] for n in ("rf1", "ip1")] == ["on", "on"]

    await until(recorded)  # the fake driver applies a reset a moment after accepting it
    assert (await slab.node("rf2"))["power_state"] == "off"
    assert (await slab.node("ip2"))["power_state"] == "off"
    assert sync.counters.changes == 2 and sync.counters.failing == {}
    # Only read: the machines stay as their operators left them.
    assert await slab.redfish_power("rf1") == "on"
    assert (await slab.ipmi.state("ip1"))["calls"] == calls_before
    # Nothing changed since: a pass records nothing more.
    again = await sync.sync_once()
    assert (again.nodes, again.changed, again.overtaken) == (4, 0, 0)


async def test_a_bmc_that_times_out_is_counted_and_warned_about_once(
    slab: SyncLab, caplog: pytest.LogCaptureFixture
) -> None:
    await slab.ipmi.set("ip2", "unresponsive", True)
    with BlackholeTCP() as hole:
        r = await slab.client.patch(
            f"/v1/nodes/{slab.uuids['rf2']}", json={"bmc": {"port": hole.port}}
        )
        assert r.status_code == 200, r.text
        await slab.ipmi.set("ip1", "power", "on")
        sync = slab.sync()
        caplog.set_level(logging.INFO, logger=SYNC_LOG)
        passes: list[PassResult] = []

        async def three_passes_and_ip1_seen() -> bool:
            passes.append(await sync.sync_once())
            on = (await slab.node("ip1"))["power_state"] == "on"
            return len(passes) >= 3 and on

        # A cold IPMI session on this busy machine may itself miss a deadline: the live
        # nodes are judged by their outcome, the dead ones by every pass.
        await until(three_passes_and_ip1_seen, timeout=120)

    dead = {slab.uuids["rf2"], slab.uuids["ip2"]}
    assert all(p.failed >= 2 and p.nodes == 4 for p in passes)
    assert {u: sync.counters.failing.get(u) for u in dead} == dict.fromkeys(dead, len(passes))
    warned = collections.Counter(
        r.getMessage().split()[1]
        for r in caplog.records
        if r.levelno == logging.WARNING and r.name == SYNC_LOG
    )
    assert {u: warned[u] for u in dead} == dict.fromkeys(dead, 1)  # once, not every pass
    # Recorded nothing new for the dead ones; the live ones were still synced.
    assert (await slab.node("rf2"))["power_state"] == "off"
    assert (await slab.node("ip2"))["power_state"] == "off"
    assert (await slab.node("ip1"))["power_state"] == "on"

    # The IPMI BMC answers again, and its machine was switched on meanwhile.
    await slab.ipmi.set("ip2", "unresponsive", False)
    await slab.ipmi.set("ip2", "power", "on")
    caplog.clear()

    async def back() -> bool:
        await sync.sync_once()
        return slab.uuids["ip2"] not in sync.counters.failing

    await until(back)
    assert (await slab.node("ip2"))["power_state"] == "on"
    assert any("answers the power sync again" in r.getMessage() for r in caplog.records)


async def test_nodes_held_by_a_lock_or_not_managed_are_not_read(slab: SyncLab) -> None:
    state = slab.service.state
    assert state is not None
    asked: list[str] = []

    def factory(target: BMCTarget) -> BMCLike:
        asked.append(target.system_id or str(target.port))
        return slab.service.sync_bmc_factory(target)

    await slab.ipmi.set("ip1", "power", "on")
    rf2 = slab.uuids["rf2"]
    assert await try_lock(state.db, rf2, "someone:verb", 60)
    enrolled = await slab.client.post(
        "/v1/nodes",
        json={
            "name": "new",
            "region": "RegionOne",
            "az": "az1",
            "rack": "r1",
            "resource_class": "BM_GOLD",
            "cpus": 1,
            "memory_mb": 1024,
            "disk_gb": 10,
            "macs": ["52:54:00:00:08:01"],
            "bmc": {
                "driver": "ipmi",
                "address": "127.0.0.1",
                "port": 9,
                "username": "u",
                "password": "p",
            },
        },
    )
    assert enrolled.status_code == 201
    sync = slab.sync(factory)
    try:
        result = await sync.sync_once()
    finally:
        await unlock(state.db, rf2, "someone:verb")
    assert result.nodes == 3 and len(asked) == 3
    assert slab.systems["rf2"].uuid not in asked and "9" not in asked
    # Free again: the next pass reads it.
    assert (await sync.sync_once()).nodes == 4


class _StaleRead:
    """Reads the real BMC at once, answers only when ``release`` is set: a slow read that
    a power verb overtakes."""

    def __init__(self, real: BMCLike, started: asyncio.Event, release: asyncio.Event) -> None:
        self.real, self.started, self.release = real, started, release

    async def power_state(self) -> str:
        answer = await self.real.power_state()
        self.started.set()
        await self.release.wait()
        return answer

    async def aclose(self) -> None:
        closer = getattr(self.real, "aclose", None)
        if closer is not None:
            await closer()


async def test_a_verb_that_overtakes_a_read_keeps_its_state(slab: SyncLab) -> None:
    started, release = asyncio.Event(), asyncio.Event()
    rf1 = slab.systems["rf1"].uuid

    def factory(target: BMCTarget) -> BMCLike:
        real = slab.service.sync_bmc_factory(target)
        return _StaleRead(real, started, release) if target.system_id == rf1 else real

    await slab.redfish_reset("rf1", "On")

    async def on() -> bool:
        return await slab.redfish_power("rf1") == "on"

    await until(on)  # the read sees "on"...
    sync = slab.sync(factory)
    running = asyncio.create_task(sync.sync_once())
    await asyncio.wait_for(started.wait(), 60)
    # ...then the cloud powers it off through hwmgr before the read's answer lands.
    r = await slab.client.put(f"/v1/nodes/{slab.uuids['rf1']}/power", json={"target": "off"})
    assert r.status_code == 200, r.text
    release.set()
    result = await asyncio.wait_for(running, 60)
    assert result.overtaken == 1
    assert (await slab.node("rf1"))["power_state"] == "off"
    assert await slab.redfish_power("rf1") == "off"


async def test_reads_in_flight_stay_within_the_worker_bound(slab: SyncLab) -> None:
    in_flight, peak = 0, 0

    class Counting:
        def __init__(self, real: BMCLike) -> None:
            self.real = real

        async def power_state(self) -> str:
            nonlocal in_flight, peak
            in_flight += 1
            peak = max(peak, in_flight)
            try:
                await asyncio.sleep(0.05)  # let the other workers start, if they may
                return await self.real.power_state()
            finally:
                in_flight -= 1

    def factory(target: BMCTarget) -> BMCLike:
        return Counting(slab.service.sync_bmc_factory(target))  # type: ignore[return-value]

    for workers in (1, 2):
        peak = 0
        result = await slab.sync(factory, workers=workers).sync_once()
        assert result.read + result.failed == 4
        assert peak == workers


async def test_the_loop_syncs_on_its_own_and_survives_a_dead_bmc(
    tmp_path: Path, emulators: tuple[RedfishEmulator, IpmiEmulator]
) -> None:
    lab = await start_sync_lab(tmp_path, *emulators, power_sync_interval_seconds=0.3)
    try:
        sync = lab.service.power_sync
        assert sync is not None and sync.running
        await lab.ipmi.set("ip2", "unresponsive", True)
        await lab.ipmi.set("ip1", "power", "on")
        await lab.redfish_reset("rf1", "On")

        async def seen() -> bool:
            on = [(await lab.node(n))["power_state"] == "on" for n in ("rf1", "ip1")]
            return all(on)

        await until(seen)
        await asyncio.wait_for(sync.wait_passes(2), 60)  # still going after the failures
        assert sync.counters.failing.get(lab.uuids["ip2"], 0) >= 2
        assert sync.running
    finally:
        await lab.client.aclose()
        await lab.service.stop()
    assert lab.service.power_sync is None


async def test_interval_zero_disables_the_sync(slab: SyncLab) -> None:
    assert slab.service.power_sync is not None
    assert not slab.service.power_sync.running


def test_sync_reads_try_once_with_the_call_timeout(tmp_path: Path) -> None:
    # Its next pass is the retry: a dead BMC holds one of its workers for one timeout.
    settings = make_settings(tmp_path, Fernet.generate_key().decode(), bmc_call_timeout_seconds=2)
    service = HwmgrService(settings)
    bmc = service.sync_bmc_factory(BMCTarget("ipmi", "127.0.0.1", 623, "u", SecretStr("p")))
    assert isinstance(bmc, BMC)
    assert (bmc.retry.attempts, bmc.retry.call_timeout) == (1, 2.0)
    assert (
        service.bmc_factory(BMCTarget("ipmi", "127.0.0.1", 623, "u", SecretStr("p"))).retry.attempts
        == 3
    )  # type: ignore[attr-defined]
