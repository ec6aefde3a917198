"""Many deploys, one poll loop: waiting costs requests per tick, not per node.

hwmgr is real (REST API, task runner, installer over HTTP); the BMCs are the in-memory
fleet of the hwmgr tests, so that 40 nodes fit in a quick test.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from pathlib import Path

import httpx
from cryptography.fernet import Fernet
from pydantic import SecretStr

from stockyard.compute.drivers.baremetal import BaremetalDriver
from stockyard.compute.drivers.baremetal_client import HwmgrClient
from stockyard.compute.drivers.base import InstanceSpec, PowerState
from stockyard.hwmgr.installer_emulator import InstallerEmulator
from stockyard.hwmgr.service import HwmgrService
from stockyard.hwmgr.settings import HwmgrSettings
from tests.baremetal.conftest import TOKEN, Images
from tests.hwmgr.fakes import FakeFleet

NODES = 40


class CountingTransport(httpx.AsyncHTTPTransport):
    def __init__(self) -> None:
        super().__init__()
        self.calls: Counter[str] = Counter()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.startswith("/v1/tasks/"):
            path = "/v1/tasks/{uuid}"
        elif path.startswith("/v1/nodes/"):
            path = "/v1/nodes/{uuid}" + (
                "/" + path.rsplit("/", 1)[1] if path.count("/") > 3 else ""
            )
        elif path == "/v1/nodes" and "provision_state" in request.url.params:
            path = "/v1/nodes?provision_state"
        self.calls[f"{request.method} {path}"] += 1
        return await super().handle_async_request(request)


async def test_forty_concurrent_deploys_share_one_poll_loop(tmp_path: Path, images: Images) -> None:
    fleet = FakeFleet()
    installer = InstallerEmulator("http://127.0.0.1:1")
    settings = HwmgrSettings(
        data_dir=tmp_path / "hwmgr",
        port=0,
        token=SecretStr(TOKEN),
        secret_key=SecretStr(Fernet.generate_key().decode()),
        log_level="warning",
    )
    service = HwmgrService(settings, bmc_factory=fleet.factory, observers=[installer])
    await service.start()
    installer.hwmgr_url = service.url
    admin = HwmgrClient(service.url, TOKEN)
    transport = CountingTransport()
    client = HwmgrClient(service.url, TOKEN, transport=transport)
    driver = BaremetalDriver(service.url, TOKEN, images.url_for, client=client, poll_interval=0.2)
    try:
        names = [f"n{i:02d}" for i in range(NODES)]
        for i, name in enumerate(names):
            node = await admin.enroll(
                {
                    "name": name,
                    "region": "RegionOne",
                    "az": "az1",
                    "rack": f"r{i % 4}",
                    "resource_class": "BM_GOLD",
                    "cpus": 8,
                    "memory_mb": 8192,
                    "disk_gb": 100,
                    "macs": [f"52:54:03:00:00:{i:02x}"],
                    "bmc": {
                        "driver": "redfish",
                        "address": "127.0.0.1",
                        "port": 8000,
                        "system_id": name,
                        "username": "admin",
                        "password": "s3cret-bmc-pw",
                    },
                }
            )
            await admin.manage(node["uuid"])
        insts = {n: InstanceSpec(uuid=str(uuid.uuid4()), image_ref="debian") for n in names}

        await asyncio.gather(*(driver.for_node(n).spawn(i) for n, i in insts.items()))

        assert await driver.list_instances() == {i.uuid: PowerState.RUNNING for i in insts.values()}
        calls = transport.calls
        print(dict(calls), "polls:", driver.watcher.polls)
        # One node-list request per tick, whatever the number of waiting deploys...
        assert calls["GET /v1/nodes?provision_state"] <= driver.watcher.polls
        # ...and each finished task is read about once, not once per tick.
        assert calls["GET /v1/tasks/{uuid}"] <= 2 * NODES
        assert calls["POST /v1/nodes/{uuid}/deploy"] == NODES
    finally:
        await driver.close()
        await admin.close()
        await service.stop()
        await installer.close()
