"""hwmgr killed (SIGKILL) mid-install as its own process, restarted on the same database
and port: the task resumes, and the installer that finished during the outage gets its
call-back through by retrying (connection refused while hwmgr is down)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet

from stockyard.hwmgr.emulators.ipmi import IpmiNodeSpec
from stockyard.hwmgr.emulators.ipmi_emulator import IpmiEmulator
from stockyard.hwmgr.installer_emulator import BootScript, InstallerEmulator
from tests.hwmgr.conftest import TOKEN, ImageServer


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Hwmgr:
    """``python -m stockyard.hwmgr`` on a fixed port, killable and restartable."""

    def __init__(self, data_dir: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = data_dir / "hwmgr.log"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("STOCKYARD_")}
        self.env.update(
            STOCKYARD_HWMGR_HOST="127.0.0.1",
            STOCKYARD_HWMGR_PORT=str(self.port),
            STOCKYARD_HWMGR_DATA_DIR=str(data_dir),
            STOCKYARD_HWMGR_TOKEN=TOKEN,
            STOCKYARD_HWMGR_SECRET_KEY=Fernet.generate_key().decode(),
            STOCKYARD_HWMGR_INSTALL_DEADLINE_SECONDS="300",
            STOCKYARD_HWMGR_POWER_TIMEOUT_SECONDS="60",
            STOCKYARD_HWMGR_LOG_LEVEL="WARNING",
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def _spawn(self) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "stockyard.hwmgr"],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    async def start(self) -> None:
        self.proc = self._spawn()
        async with httpx.AsyncClient(headers={"X-Auth-Token": TOKEN}) as client:
            async with asyncio.timeout(120):
                while True:
                    if self.proc.poll() is not None:
                        raise AssertionError(f"hwmgr exited:\n{self.log.read_text()}")
                    try:
                        if (await client.get(f"{self.url}/v1/nodes")).status_code == 200:
                            return
                    except httpx.HTTPError:
                        pass
                    await asyncio.sleep(0.2)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


class _GatedInstaller(InstallerEmulator):
    """Installs, then holds the call-back until the test opens ``gate``."""

    def __init__(self, hwmgr_url: str) -> None:
        super().__init__(hwmgr_url, callback_attempts=40, retry_delay=0.2)
        self.written = asyncio.Event()
        self.gate = asyncio.Event()

    async def _call_back(self, boot: BootScript, body: dict[str, str]) -> None:
        self.written.set()
        await self.gate.wait()
        await super()._call_back(boot, body)


@pytest.fixture
def hwmgr(tmp_path: Path) -> Iterator[_Hwmgr]:
    proc = _Hwmgr(tmp_path / "hwmgr")
    (tmp_path / "hwmgr").mkdir()
    yield proc
    proc.stop()


async def _task(client: httpx.AsyncClient, uuid: str, states: set[str]) -> dict[str, Any]:
    async with asyncio.timeout(180):
        while True:
            task: dict[str, Any] = (await client.get(f"/v1/tasks/{uuid}")).json()
            if task["state"] in states:
                return task
            await asyncio.sleep(0.2)


async def test_kill_mid_install_restart_resumes_and_call_back_retries(
    hwmgr: _Hwmgr, image_server: ImageServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="stockyard.hwmgr.installer_emulator")
    spec = IpmiNodeSpec(name="k1")
    async with IpmiEmulator([spec]) as ipmi:
        await hwmgr.start()
        client = httpx.AsyncClient(base_url=hwmgr.url, headers={"X-Auth-Token": TOKEN}, timeout=60)
        installer = _GatedInstaller(hwmgr.url)
        try:
            body = {
                "name": "k1", "region": "RegionOne", "az": "az1", "rack": "r1",
                "resource_class": "BM_GOLD", "cpus": 8, "memory_mb": 8192, "disk_gb": 100,
                "macs": ["52:54:00:00:09:01"],
                "bmc": {
                    "driver": "ipmi", "address": "127.0.0.1", "port": ipmi.port("k1"),
                    "username": spec.username, "password": spec.password.get_secret_value(),
                },
            }  # fmt: skip
            r = await client.post("/v1/nodes", json=body)
            assert r.status_code == 201, r.text
            node = r.json()["uuid"]
            assert (await client.post(f"/v1/nodes/{node}/manage")).status_code == 200
            r = await client.post(
                f"/v1/nodes/{node}/deploy",
                json={"image_url": image_server.url, "image_checksum": image_server.checksum},
            )
            assert r.status_code == 202, r.text
            task = r.json()["uuid"]
            await _task(client, task, {"installing"})

            # The machine PXE-booted: it fetches its script and image, writes the disk...
            install = asyncio.create_task(installer.run(node))
            async with asyncio.timeout(120):
                await installer.written.wait()
            # ...and hwmgr dies before the call-back.
            hwmgr.kill()
            installer.gate.set()
            await asyncio.sleep(1)  # the call-back now hits a closed port, and retries
            assert not install.done()
            await hwmgr.start()

            boot = await asyncio.wait_for(install, 180)
            assert boot.task_id == task
            done = await _task(client, task, {"done", "failed"})
            assert done["state"] == "done", done
            assert done["attempts"] == 2  # driven by the first process, then resumed
            shown = (await client.get(f"/v1/nodes/{node}")).json()
            assert (shown["provision_state"], shown["power_state"]) == ("active", "on")
            state = await ipmi.state("k1")
            assert state["power"] == "on" and state["last_boot"] == "default"
            assert "ConnectError" in caplog.text  # the refused call-back was retried
        finally:
            await installer.close()
            await client.aclose()
