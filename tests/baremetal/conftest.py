"""Baremetal fixtures: a real hwmgr, the Redfish and IPMI emulators, the emulated installer
and a plain HTTP image server, all on free 127.0.0.1 ports; the driver under test."""

from __future__ import annotations

import functools
import hashlib
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from stockyard.compute.drivers.baremetal import BaremetalDriver
from stockyard.compute.drivers.baremetal_client import HwmgrClient
from stockyard.compute.drivers.base import DriverError
from stockyard.hwmgr.emulators.ipmi import IpmiNodeSpec
from stockyard.hwmgr.emulators.ipmi_emulator import IpmiEmulator
from stockyard.hwmgr.emulators.redfish import RedfishEmulator, SystemSpec
from stockyard.hwmgr.installer_emulator import InstallerEmulator
from stockyard.hwmgr.service import HwmgrService
from stockyard.hwmgr.settings import HwmgrSettings

TOKEN = "baremetal-driver-tests-token"
REDFISH_NODES = ["rf1", "rf2"]
IPMI_NODES = ["ipmi1"]


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class Images:
    """Image id -> (url, checksum) for the driver; unknown ids fail like a missing image."""

    base: str
    checksums: dict[str, str]

    async def url_for(self, image_id: str) -> tuple[str, str]:
        if image_id not in self.checksums:
            raise DriverError(f"Image {image_id} has no data to install (not active).")
        return f"{self.base}/{image_id}.img", self.checksums[image_id]


@pytest.fixture
def images(tmp_path: Path) -> Iterator[Images]:
    root = tmp_path / "www"
    root.mkdir()
    checksums = {}
    for image_id, size in (("debian", 256 * 1024), ("ubuntu", 128 * 1024)):
        data = hashlib.sha512(image_id.encode()).digest() * (size // 64)
        (root / f"{image_id}.img").write_bytes(data)
        checksums[image_id] = "sha256:" + hashlib.sha256(data).hexdigest()
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Images(f"http://127.0.0.1:{server.server_address[1]}", checksums)
    server.shutdown()
    server.server_close()


@dataclass
class Rig:
    """hwmgr + emulators + installer, nodes enrolled and available; ``driver`` is shared."""

    service: HwmgrService
    installer: InstallerEmulator
    redfish: RedfishEmulator
    ipmi: IpmiEmulator
    client: HwmgrClient
    driver: BaremetalDriver
    images: Images
    uuids: dict[str, str] = field(default_factory=dict)
    systems: dict[str, SystemSpec] = field(default_factory=dict)

    async def enroll(self, name: str, bmc: dict[str, Any], rack: str = "r1") -> str:
        node = await self.client.enroll(
            {
                "name": name,
                "region": "RegionOne",
                "az": "az1",
                "rack": rack,
                "resource_class": "BM_GOLD",
                "cpus": 32,
                "memory_mb": 131072,
                "disk_gb": 960,
                "macs": [f"52:54:02:00:00:{len(self.uuids) + 1:02x}"],
                "bmc": bmc,
            }
        )
        await self.client.manage(node["uuid"])
        self.uuids[name] = node["uuid"]
        return str(node["uuid"])

    async def node(self, name: str) -> dict[str, Any]:
        return await self.client.node(self.uuids[name])


@pytest.fixture
async def rig(tmp_path: Path, images: Images) -> AsyncIterator[Rig]:
    systems = {n: SystemSpec(name=n) for n in REDFISH_NODES}
    installer = InstallerEmulator("http://127.0.0.1:1")
    settings = HwmgrSettings(
        data_dir=tmp_path / "hwmgr",
        port=0,
        token=SecretStr(TOKEN),
        secret_key=SecretStr(Fernet.generate_key().decode()),
        install_deadline_seconds=30.0,
        power_timeout_seconds=20.0,
        log_level="warning",
    )
    async with (
        RedfishEmulator(list(systems.values()), power_delay=0) as redfish,
        IpmiEmulator([IpmiNodeSpec(name=n) for n in IPMI_NODES]) as ipmi,
    ):
        service = HwmgrService(settings, observers=[installer], host_id="bm-tests")
        await service.start()
        installer.hwmgr_url = service.url
        client = HwmgrClient(service.url, TOKEN)
        driver = BaremetalDriver(service.url, TOKEN, images.url_for, poll_interval=0.1)
        rig = Rig(service, installer, redfish, ipmi, client, driver, images, systems=systems)
        try:
            for i, name in enumerate(REDFISH_NODES):
                bmc = {
                    "driver": "redfish",
                    "address": redfish.host,
                    "port": redfish.port,
                    "system_id": systems[name].uuid,
                    "username": redfish.username,
                    "password": redfish.password.get_secret_value(),
                }
                await rig.enroll(name, bmc, rack=f"r{i + 1}")
            for name in IPMI_NODES:
                spec = ipmi.nodes[name]
                bmc = {
                    "driver": "ipmi",
                    "address": ipmi.address,
                    "port": ipmi.port(name),
                    "username": spec.username,
                    "password": spec.password.get_secret_value(),
                }
                await rig.enroll(name, bmc, rack="r3")
            yield rig
        finally:
            await driver.close()
            await client.close()
            await service.stop()
            await installer.close()
