"""hwmgr fixtures: a real hwmgr on a free port, fake BMCs, an image server, the installer."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from stockyard.hwmgr.bmcport import BMCFactory, default_bmc_factory
from stockyard.hwmgr.installer_emulator import InstallerEmulator
from stockyard.hwmgr.service import HwmgrService
from stockyard.hwmgr.settings import HwmgrSettings
from tests.hwmgr.fakes import FakeFleet

TOKEN = "service-token-for-tests"
BMC_PASSWORD = "s3cret-bmc-pw"
TERMINAL = {"done", "failed"}


class _QuietHandler(SimpleHTTPRequestHandler):
    hits: list[str]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.hits.append(self.path)
        super().do_GET()


@dataclass
class ImageServer:
    url: str
    checksum: str
    hits: list[str]


@pytest.fixture
def image_server(tmp_path: Path) -> Iterator[ImageServer]:
    """A plain HTTP server holding one 3 MiB image (the 'debian' of these tests)."""
    root = tmp_path / "www"
    root.mkdir()
    data = bytes(range(256)) * (3 * 4096)
    (root / "debian.img").write_bytes(data)
    hits: list[str] = []
    handler_cls = type("Handler", (_QuietHandler,), {"hits": hits})
    handler = functools.partial(handler_cls, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    yield ImageServer(
        f"http://127.0.0.1:{port}/debian.img", "sha256:" + hashlib.sha256(data).hexdigest(), hits
    )
    server.shutdown()
    server.server_close()


def node_body(name: str, mac: str, bmc: dict[str, Any]) -> dict[str, Any]:
    """A ``POST /v1/nodes`` body: a BM_GOLD node in RegionOne/az1/r1."""
    return {
        "name": name,
        "region": "RegionOne",
        "az": "az1",
        "rack": "r1",
        "resource_class": "BM_GOLD",
        "cpus": 8,
        "memory_mb": 8192,
        "disk_gb": 100,
        "macs": [mac],
        "bmc": bmc,
    }


def make_settings(data_dir: Path, key: str, **overrides: Any) -> HwmgrSettings:
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "port": 0,
        "token": SecretStr(TOKEN),
        "secret_key": SecretStr(key),
        "install_deadline_seconds": 30.0,
        "power_timeout_seconds": 5.0,
        "log_level": "warning",
    }
    values.update(overrides)
    return HwmgrSettings(**values)


@dataclass
class Lab:
    """One running hwmgr with its fleet, installer and an authenticated client."""

    service: HwmgrService
    fleet: FakeFleet
    installer: InstallerEmulator
    client: httpx.AsyncClient
    image: ImageServer
    key: str
    data_dir: Path
    # With a real Redfish emulator, nodes are enrolled against its systems by name.
    redfish: Any = None
    systems: dict[str, Any] = field(default_factory=dict)

    def bmc_body(self, name: str, password: str) -> dict[str, Any]:
        if self.redfish is None:
            return {
                "driver": "redfish",
                "address": "127.0.0.1",
                "port": 8000,
                "system_id": name,
                "username": "admin",
                "password": password,
            }
        return {
            "driver": "redfish",
            "address": self.redfish.host,
            "port": self.redfish.port,
            "system_id": self.systems[name].uuid,
            "username": self.redfish.username,
            "password": self.redfish.password.get_secret_value(),
        }

    async def enroll(self, name: str, **extra: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": name,
            "region": "RegionOne",
            "az": "az1",
            "rack": extra.pop("rack", "r1"),
            "resource_class": "BM_GOLD",
            "cpus": 32,
            "memory_mb": 131072,
            "disk_gb": 960,
            "macs": [extra.pop("mac", "52:54:00:00:00:01")],
            "bmc": self.bmc_body(name, extra.pop("password", BMC_PASSWORD)),
        }
        body.update(extra)
        r = await self.client.post("/v1/nodes", json=body)
        assert r.status_code == 201, r.text
        node: dict[str, Any] = r.json()
        return node

    async def available(self, name: str, **extra: Any) -> dict[str, Any]:
        node = await self.enroll(name, **extra)
        r = await self.client.post(f"/v1/nodes/{node['uuid']}/manage")
        assert r.status_code == 200, r.text
        managed: dict[str, Any] = r.json()
        return managed

    async def deploy(self, node_uuid: str) -> dict[str, Any]:
        r = await self.client.post(
            f"/v1/nodes/{node_uuid}/deploy",
            json={"image_url": self.image.url, "image_checksum": self.image.checksum},
        )
        assert r.status_code == 202, r.text
        task: dict[str, Any] = r.json()
        return task

    async def wait_task(
        self,
        task_uuid: str,
        states: set[str] = TERMINAL,
        timeout: float = 60.0,  # noqa: ASYNC109
    ) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while True:
                r = await self.client.get(f"/v1/tasks/{task_uuid}")
                assert r.status_code == 200, r.text
                task: dict[str, Any] = r.json()
                if task["state"] in states:
                    return task
                await asyncio.sleep(0.05)

    async def node(self, node_uuid: str) -> dict[str, Any]:
        r = await self.client.get(f"/v1/nodes/{node_uuid}")
        assert r.status_code == 200, r.text
        node: dict[str, Any] = r.json()
        return node


async def start_lab(
    data_dir: Path,
    key: str,
    fleet: FakeFleet,
    image: ImageServer,
    installer: InstallerEmulator | None = None,
    bmc_factory: BMCFactory | None = None,
    resume_tasks: bool = True,
    **overrides: Any,
) -> Lab:
    installer = installer or InstallerEmulator("http://127.0.0.1:1")
    service = HwmgrService(
        make_settings(data_dir, key, **overrides),
        bmc_factory=bmc_factory or fleet.factory,
        observers=[installer],
        host_id="test-host",
    )
    await service.start(resume_tasks=resume_tasks)
    installer.hwmgr_url = service.url
    client = httpx.AsyncClient(base_url=service.url, headers={"X-Auth-Token": TOKEN}, timeout=60)
    return Lab(service, fleet, installer, client, image, key, data_dir)


async def stop_lab(lab: Lab) -> None:
    await lab.client.aclose()
    await lab.service.stop()
    await lab.installer.close()


@pytest.fixture
async def lab(tmp_path: Path, image_server: ImageServer) -> AsyncIterator[Lab]:
    running = await start_lab(
        tmp_path / "hwmgr", Fernet.generate_key().decode(), FakeFleet(), image_server
    )
    yield running
    await stop_lab(running)


# Names the deploy tests enroll; the Redfish emulator serves one system for each.
REDFISH_NAMES = ["n1", *(f"n{i:02d}" for i in range(50))]


@pytest.fixture(params=["fake", "redfish"])
async def any_lab(
    request: pytest.FixtureRequest, tmp_path: Path, image_server: ImageServer
) -> AsyncIterator[Lab]:
    """The same flows on in-memory BMCs and on the sushy-tools Redfish emulator."""
    key = Fernet.generate_key().decode()
    if request.param == "fake":
        running = await start_lab(tmp_path / "hwmgr", key, FakeFleet(), image_server)
        yield running
        await stop_lab(running)
        return
    from stockyard.hwmgr.emulators.redfish import RedfishEmulator, SystemSpec

    systems = {name: SystemSpec(name=name) for name in REDFISH_NAMES}
    async with RedfishEmulator(list(systems.values())) as emulator:
        running = await start_lab(
            tmp_path / "hwmgr",
            key,
            FakeFleet(),
            image_server,
            bmc_factory=default_bmc_factory,
            power_timeout_seconds=60.0,
        )
        running.redfish = emulator
        running.systems = systems
        try:
            yield running
        finally:
            await stop_lab(running)
