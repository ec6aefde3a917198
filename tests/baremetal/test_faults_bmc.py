"""Baremetal faults end readable: a BMC that times out or refuses, an installer that
never calls back. Each server ends ACTIVE after a reschedule onto another node, or ERROR
with a fault that names the BMC's (or installer's) message; the failed node is never
left holding the server.

Real protocol endpoints throughout: the lab's IPMI and Redfish emulators, a TCP port
that accepts and never answers, hwmgr over HTTP and the emulated installer.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from stockyard.settings import Settings
from tests.baremetal.cloudrig import (
    BmRig,
    owned_and_spare,
    rig_settings_in,
    running_rig,
    set_hwmgr_env,
)
from tests.conftest import Cloud

R1, R2 = "regionone-az1-r1-bm01", "regionone-az1-r2-bm01"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return rig_settings_in(tmp_path)


@pytest.fixture(autouse=True)
def _hwmgr_env(monkeypatch: pytest.MonkeyPatch) -> None:
    set_hwmgr_env(monkeypatch)


@pytest.fixture
def blackhole() -> Iterator[int]:
    """A TCP port that accepts connections (kernel backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield int(sock.getsockname()[1])


def _fault(server: dict[str, Any]) -> str:
    fault = server.get("fault") or {}
    return f"{fault.get('message', '')}\n{fault.get('details', '')}"


async def _not_held(rig: BmRig, node: str) -> None:
    """The node holds no server: stock shows it free, hwmgr has it out of service."""
    stock = await rig.stock_nodes()
    assert stock[node]["in_use"] is False, stock[node]
    hw = await rig.hwmgr.node(await rig.host_uuid(node))
    assert hw["provision_state"] not in ("active", "deploying"), hw


@pytest.fixture
async def one_ipmi_one_spare(cloud: Cloud, settings: Settings) -> AsyncIterator[BmRig]:
    async with running_rig(cloud, settings, owned_and_spare("ipmi")) as rig:
        yield rig


@pytest.fixture
async def one_redfish_one_spare(cloud: Cloud, settings: Settings) -> AsyncIterator[BmRig]:
    async with running_rig(cloud, settings, owned_and_spare("redfish")) as rig:
        yield rig


async def test_unresponsive_ipmi_bmc_reschedules_onto_another_node(
    one_ipmi_one_spare: BmRig,
) -> None:
    rig = one_ipmi_one_spare
    assert rig.lab.ipmi is not None
    await rig.lab.ipmi.set(R1, "unresponsive", True)
    uuid = await rig.create("db")
    await rig.wait_install_started(R1)
    # While the first deploy waits for the dead BMC, the admin gives demo one more node.
    await rig.assign(R2, rig.cloud.seeded.demo_project_id)

    (server,) = await rig.settle([uuid])
    assert server["status"] == "ACTIVE", _fault(server)
    assert server["OS-EXT-SRV-ATTR:host"] == R2
    port = rig.lab.ipmi.port(R1)
    errors = await rig.build_errors(uuid)
    assert any(f"IPMI BMC 127.0.0.1:{port} did not answer" in e for e in errors), errors
    await _not_held(rig, R1)
    (failed,) = await rig.install_tasks(R1)
    assert failed["state"] == "failed" and "did not answer" in failed["last_error"], failed


async def test_refusing_bmc_ends_in_error_with_its_message(one_ipmi_one_spare: BmRig) -> None:
    rig = one_ipmi_one_spare
    node = await rig.host_uuid(R1)
    await rig.hwmgr.update_bmc(node, {"password": "not-the-bmc-password"})
    uuid = await rig.create("db")

    (server,) = await rig.settle([uuid])
    assert server["status"] == "ERROR"
    assert server["OS-EXT-SRV-ATTR:host"] is None
    fault = _fault(server)
    assert rig.lab.ipmi is not None
    port = rig.lab.ipmi.port(R1)
    # demo has no other node: the reschedule finds none, and says why the build failed.
    assert "No valid host" in fault, fault
    assert f"IPMI BMC 127.0.0.1:{port} refused: Incorrect password provided" in fault, fault
    assert "not-the-bmc-password" not in fault
    await _not_held(rig, R1)


async def test_redfish_bmc_that_never_answers_ends_in_error_naming_it(
    one_redfish_one_spare: BmRig, blackhole: int
) -> None:
    rig = one_redfish_one_spare
    await rig.hwmgr.update_bmc(await rig.host_uuid(R1), {"port": blackhole})
    uuid = await rig.create("db")

    (server,) = await rig.settle([uuid])
    assert server["status"] == "ERROR"
    fault = _fault(server)
    assert "No valid host" in fault, fault
    assert f"Redfish BMC 127.0.0.1:{blackhole}" in fault, fault
    assert "gave up after 2 attempts" in fault, fault
    await _not_held(rig, R1)
    await _not_held(rig, R2)  # never demo's: the pool node stays out of it


@pytest.fixture
def short_install_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    # Before the rig starts hwmgr: a silent installer fails the task after this long.
    monkeypatch.setenv("STOCKYARD_HWMGR_INSTALL_DEADLINE_SECONDS", "8")


async def test_installer_that_never_calls_back_reschedules(
    short_install_deadline: None, one_redfish_one_spare: BmRig
) -> None:
    rig = one_redfish_one_spare
    await rig.lab.hwmgrs["RegionOne"].set_installer(silent_nodes=[await rig.host_uuid(R1)])
    uuid = await rig.create("db")
    await rig.wait_install_started(R1)
    await rig.assign(R2, rig.cloud.seeded.demo_project_id)

    (server,) = await rig.settle([uuid])
    assert server["status"] == "ACTIVE", _fault(server)
    assert server["OS-EXT-SRV-ATTR:host"] == R2
    errors = await rig.build_errors(uuid)
    assert any("installer did not call back within" in e for e in errors), errors
    await _not_held(rig, R1)
