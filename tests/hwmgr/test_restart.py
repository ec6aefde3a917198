"""hwmgr killed mid-task and restarted on the same database resumes every task."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from stockyard.hwmgr.bmcport import default_bmc_factory
from stockyard.hwmgr.installer_emulator import InstallerEmulator
from tests.hwmgr.conftest import ImageServer, start_lab, stop_lab
from tests.hwmgr.fakes import FakeFleet


def _sql(db: Path, statement: str, *params: object) -> None:
    conn = sqlite3.connect(db)
    try:
        conn.execute(statement, params)
        conn.commit()
    finally:
        conn.close()


@pytest.mark.parametrize("bmcs", ["fake", "redfish"])
async def test_restart_mid_install(tmp_path: Path, image_server: ImageServer, bmcs: str) -> None:
    async with contextlib.AsyncExitStack() as stack:
        kw: dict[str, Any] = {}
        emulator: Any = None
        systems: dict[str, Any] = {}
        if bmcs == "redfish":
            from stockyard.hwmgr.emulators.redfish import RedfishEmulator, SystemSpec

            systems = {name: SystemSpec(name=name) for name in ("a", "b")}
            emulator = await stack.enter_async_context(RedfishEmulator(list(systems.values())))
            kw = {"bmc_factory": default_bmc_factory, "power_timeout_seconds": 60.0}
        await _restart_mid_install(tmp_path, image_server, emulator, systems, kw)


async def _restart_mid_install(
    tmp_path: Path,
    image_server: ImageServer,
    emulator: Any,
    systems: dict[str, Any],
    kw: dict[str, Any],
) -> None:
    key = Fernet.generate_key().decode()
    fleet = FakeFleet()
    data = tmp_path / "hwmgr"
    silent = InstallerEmulator("http://127.0.0.1:1", never_call_back=True)
    first = await start_lab(data, key, fleet, image_server, installer=silent, **kw)
    first.redfish, first.systems = emulator, systems
    try:
        a = await first.available("a", mac="52:54:00:00:00:0a")
        b = await first.available("b", mac="52:54:00:00:00:0b")
        ta = await first.deploy(a["uuid"])
        tb = await first.deploy(b["uuid"])
        await first.wait_task(ta["uuid"], {"installing"})
        await first.wait_task(tb["uuid"], {"installing"})
    finally:
        await stop_lab(first)

    # While hwmgr is down, b's deadline passes.
    _sql(
        data / "hwmgr.db",
        "UPDATE tasks SET deadline = '2000-01-01 00:00:00.000000' WHERE uuid = ?",
        tb["uuid"],
    )
    second = await start_lab(data, key, fleet, image_server, **kw)
    second.redfish, second.systems = emulator, systems
    try:
        assert (await second.client.get(f"/v1/tasks/{ta['uuid']}")).json()["state"] == (
            "installing"
        )
        # The machine that kept installing through the outage now calls back.
        await second.installer.run(a["uuid"])
        done = await second.wait_task(ta["uuid"])
        assert done["state"] == "done"
        assert done["attempts"] == 2
        assert (await second.node(a["uuid"]))["provision_state"] == "active"
        failed = await second.wait_task(tb["uuid"])
        assert failed["state"] == "failed"
        assert "did not call back" in failed["last_error"]
        assert (await second.node(b["uuid"]))["provision_state"] == "error"
    finally:
        await stop_lab(second)


async def test_restart_resumes_every_state(tmp_path: Path, image_server: ImageServer) -> None:
    key = Fernet.generate_key().decode()
    fleet = FakeFleet()
    data = tmp_path / "hwmgr"
    silent = InstallerEmulator("http://127.0.0.1:1", never_call_back=True)
    first = await start_lab(data, key, fleet, image_server, installer=silent)
    left_in = ["queued", "powering_off", "setting_pxe", "powering_on", "installing", "rebooting"]
    tasks: dict[str, str] = {}
    try:
        for i, state in enumerate(left_in):
            node = await first.available(f"n{i}", mac=f"52:54:00:00:00:1{i}")
            task = await first.deploy(node["uuid"])
            await first.wait_task(task["uuid"], {"installing"})
            tasks[state] = task["uuid"]
    finally:
        await stop_lab(first)
    for state, uuid in tasks.items():
        _sql(data / "hwmgr.db", "UPDATE tasks SET state = ? WHERE uuid = ?", state, uuid)

    second = await start_lab(data, key, fleet, image_server)
    try:
        # The one left installing needs its machine's call-back; the rest re-boot into it.
        task = (await second.client.get(f"/v1/tasks/{tasks['installing']}")).json()
        await second.installer.run(task["node_uuid"])
        for state, uuid in tasks.items():
            finished = await second.wait_task(uuid)
            assert finished["state"] == "done", (state, finished)
        nodes = (await second.client.get("/v1/nodes")).json()["nodes"]
        assert {n["provision_state"] for n in nodes} == {"active"}
    finally:
        await stop_lab(second)


async def test_restart_with_moved_bmcs_resumes_on_the_new_ones(
    tmp_path: Path, image_server: ImageServer
) -> None:
    """The lab's emulators come back on new ports: hwmgr starts without resuming, takes
    the new BMC details of a node a task owns (no BMC step holds it), then resumes; the
    task's remaining steps talk to the new BMC."""
    key = Fernet.generate_key().decode()
    fleet = FakeFleet()
    data = tmp_path / "hwmgr"
    first = await start_lab(data, key, fleet, image_server)
    try:
        node = await first.available("a", mac="52:54:00:00:00:0a")
        fleet.machine("127.0.0.1", 8000, "a").pxe_gate = asyncio.Event()  # never set
        task = await first.deploy(node["uuid"])
        await first.wait_task(task["uuid"], {"setting_pxe"})
    finally:
        await stop_lab(first)  # cut in the middle of a BMC step

    second = await start_lab(data, key, fleet, image_server, resume_tasks=False)
    try:
        assert (await second.client.get(f"/v1/tasks/{task['uuid']}")).json()["state"] == (
            "setting_pxe"
        )
        r = await second.client.patch(f"/v1/nodes/{node['uuid']}", json={"bmc": {"port": 9001}})
        assert r.status_code == 200, r.text
        assert second.service.state is not None
        assert await second.service.resume_tasks() == [task["uuid"]]
        assert (await second.wait_task(task["uuid"]))["state"] == "done"
        assert fleet.machine("127.0.0.1", 9001, "a").boots == ["pxe", "disk"]
        assert (await second.node(node["uuid"]))["provision_state"] == "active"
    finally:
        await stop_lab(second)
