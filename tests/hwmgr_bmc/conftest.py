"""Fixtures: real emulators on loopback (sushy-tools subprocess, pyghmi IPMI endpoints)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from stockyard.hwmgr.bmc import BMCCredentials, RetryPolicy, set_concurrency_limits
from stockyard.hwmgr.bmc.redfish import drop_clients
from stockyard.hwmgr.emulators.ipmi import IpmiNodeSpec
from stockyard.hwmgr.emulators.ipmi_emulator import IpmiEmulator
from stockyard.hwmgr.emulators.redfish import RedfishEmulator, SystemSpec

FAST_RETRY = RetryPolicy(attempts=3, base_delay=0.05, max_delay=0.2, call_timeout=10)


@pytest.fixture(autouse=True)
def _fresh_limits() -> Iterator[None]:
    set_concurrency_limits()
    yield
    set_concurrency_limits()
    drop_clients()


@pytest.fixture
async def redfish() -> AsyncIterator[RedfishEmulator]:
    systems = [SystemSpec(name=f"node-{i:02d}") for i in range(24)]
    async with RedfishEmulator(systems, power_delay=1) as emu:
        yield emu


@pytest.fixture
async def ipmi() -> AsyncIterator[IpmiEmulator]:
    nodes = [IpmiNodeSpec(name=f"ipmi-{i:02d}") for i in range(12)]
    nodes += [
        IpmiNodeSpec(name="dead", unresponsive=True),
        IpmiNodeSpec(name="refusing", refuse=True),
    ]
    async with IpmiEmulator(nodes) as emu:
        yield emu


def redfish_creds(emu: RedfishEmulator) -> BMCCredentials:
    return BMCCredentials(username=emu.username, password=emu.password)


def ipmi_creds(emu: IpmiEmulator, name: str) -> BMCCredentials:
    node = emu.nodes[name]
    return BMCCredentials(username=node.username, password=node.password)
