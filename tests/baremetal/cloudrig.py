"""The compute API + conductor + a small baremetal lab (hwmgr, real BMC emulators, the
emulated installer) in this process, for the fault and concurrency tests.

Everything is polled with generous deadlines: the machine is small and shared.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from stockyard.conductor.service import Conductor
from stockyard.db.models import Host
from stockyard.image.defaults import DEFAULT_IMAGE_ID, register_default_image
from stockyard.image.store import ImageStore
from stockyard.lab.baremetal import BaremetalLab, start_baremetal_lab
from stockyard.lab.enroll import enroll
from stockyard.lab.model import Lab, parse_lab
from stockyard.settings import Settings
from tests.compute_api.helpers import V
from tests.conftest import Cloud

MV = "2.64"
STOCK = "/stock/v1"
# Short enough that a dead BMC fails a deploy in seconds, long enough for a busy machine.
HWMGR_ENV = {
    "STOCKYARD_HWMGR_BMC_CALL_TIMEOUT_SECONDS": "4",
    "STOCKYARD_HWMGR_BMC_ATTEMPTS": "2",
    "STOCKYARD_HWMGR_POWER_TIMEOUT_SECONDS": "30",
}


def rig_settings(settings: Settings) -> Settings:
    """Test settings with a scheduler that sees stock changes within a second."""
    return settings.model_copy(
        update={"scheduler_refresh_seconds": 0.5, "build_timeout_seconds": 600}
    )


def rig_settings_in(data_dir: Path) -> Settings:
    """:func:`rig_settings` for a cloud whose data lives in ``data_dir``."""
    return rig_settings(Settings(data_dir=data_dir, api_port=8774, fake_boot_seconds=0.0))


def set_hwmgr_env(monkeypatch: pytest.MonkeyPatch, **more: str) -> None:
    """:data:`HWMGR_ENV` and ``more`` for the hwmgr the rig starts (read at its start)."""
    for key, value in {**HWMGR_ENV, **more}.items():
        monkeypatch.setenv(key, value)


def bm_lab(racks: list[tuple[str, list[dict[str, Any]]]]) -> Lab:
    """az1 of RegionOne with baremetal ``racks`` (name, node groups), zero install time."""
    names = [name for name, _ in racks]
    return parse_lab(
        {
            "regions": [
                {
                    "name": "RegionOne",
                    "cidr": "10.10.0.0/16",
                    "azs": [{"name": "az1", "racks": [{"name": n} for n in names]}],
                }
            ],
            "baremetal": {
                "install_seconds": 0,
                "classes": {"BM_GOLD": {"cpus": 8, "memory_mb": 16384, "disk_gb": 100}},
                "racks": [
                    {"region": "RegionOne", "az": "az1", "rack": name, "nodes": nodes}
                    for name, nodes in racks
                ],
            },
        },
        "test-lab",
    )


def owned_and_spare(bmc: str) -> Lab:
    """demo owns a ``bmc`` node in r1; a Redfish node in r2 is in the pool."""
    return bm_lab(
        [
            ("r1", [{"resource_class": "BM_GOLD", "bmc": bmc, "stock": "demo"}]),
            ("r2", [{"resource_class": "BM_GOLD", "bmc": "redfish"}]),
        ]
    )


@dataclass
class BmRig:
    """The cloud and its running baremetal lab."""

    cloud: Cloud
    lab: BaremetalLab

    def h(self, token: str | None = None) -> dict[str, str]:
        return self.cloud.headers(token or self.cloud.demo_token, MV)

    @property
    def admin(self) -> dict[str, str]:
        return self.cloud.headers(self.cloud.admin_token, MV)

    @property
    def hwmgr(self) -> Any:
        """The region's hwmgr client (nodes, tasks)."""
        return self.lab.drivers["RegionOne"].client

    async def host_uuid(self, name: str) -> str:
        async with self.cloud.state.db.session() as session:
            uuid = await session.scalar(select(Host.uuid).where(Host.name == name))
        assert uuid is not None, name
        return str(uuid)

    async def create(self, name: str, token: str | None = None, **extra: Any) -> str:
        body = {
            "server": {
                "name": name,
                "flavorRef": "bm.gold",
                "imageRef": DEFAULT_IMAGE_ID,
                "networks": "auto",
                **extra,
            }
        }
        r = await self.cloud.client.post(f"{V}/servers", json=body, headers=self.h(token))
        assert r.status_code == 202, r.text
        return str(r.json()["server"]["id"])

    async def server(self, uuid: str, token: str | None = None) -> dict[str, Any]:
        r = await self.cloud.client.get(f"{V}/servers/{uuid}", headers=self.h(token))
        assert r.status_code == 200, r.text
        server: dict[str, Any] = r.json()["server"]
        return server

    async def settle(self, uuids: list[str], timeout: float = 240) -> list[dict[str, Any]]:  # noqa: ASYNC109
        """Admin views once every server is ACTIVE or ERROR with no task running."""
        async with asyncio.timeout(timeout):
            while True:
                servers = [await self.server(u, self.cloud.admin_token) for u in uuids]
                if all(
                    s["status"] in ("ACTIVE", "ERROR") and s.get("OS-EXT-STS:task_state") is None
                    for s in servers
                ):
                    return servers
                await asyncio.sleep(0.3)

    async def stock_nodes(self, **params: str) -> dict[str, dict[str, Any]]:
        r = await self.cloud.client.get(f"{STOCK}/nodes", params=params, headers=self.admin)
        assert r.status_code == 200, r.text
        return {n["name"]: n for n in r.json()["nodes"]}

    async def assign(self, node_name: str, project_id: str) -> None:
        uuid = await self.host_uuid(node_name)
        r = await self.cloud.client.post(
            f"{STOCK}/nodes/{uuid}/assign", json={"project_id": project_id}, headers=self.admin
        )
        assert r.status_code == 200, r.text

    async def install_tasks(self, node_name: str) -> list[dict[str, Any]]:
        tasks = await self.hwmgr.tasks(node=await self.host_uuid(node_name))
        return [t for t in tasks if t["type"] == "install"]

    async def wait_install_started(self, node_name: str, timeout: float = 120) -> None:  # noqa: ASYNC109
        async with asyncio.timeout(timeout):
            while not await self.install_tasks(node_name):  # noqa: ASYNC110 - HTTP polling
                await asyncio.sleep(0.2)

    async def build_errors(self, uuid: str) -> list[str]:
        """Tracebacks of the failed build events (what the admin reads in actions)."""
        c = self.cloud
        r = await c.client.get(f"{V}/servers/{uuid}/os-instance-actions", headers=self.admin)
        assert r.status_code == 200, r.text
        out = []
        for action in r.json()["instanceActions"]:
            r = await c.client.get(
                f"{V}/servers/{uuid}/os-instance-actions/{action['request_id']}",
                headers=self.admin,
            )
            for event in r.json()["instanceAction"].get("events", []):
                if event.get("result") == "Error" and event.get("traceback"):
                    out.append(str(event["traceback"]))
        return out


@asynccontextmanager
async def running_rig(
    cloud: Cloud, settings: Settings, lab: Lab, *, report_interval: float = 3600
) -> AsyncIterator[BmRig]:
    """Enroll ``lab``, start its baremetal and a conductor; stop both at exit.

    The agents report at start and then every ``report_interval`` s (by default not
    again: the tests that need reports set it short)."""
    db, bus = cloud.state.db, cloud.state.bus
    async with db.session() as session:
        await register_default_image(
            session, ImageStore(settings.data_dir / "images"), cloud.seeded.admin_project_id
        )
        await enroll(session, lab, settings)
    running = await start_baremetal_lab(lab, settings, bus, db, report_interval=report_interval)
    # Stock changes (admin assign) reach the scheduler within a second.
    conductor = Conductor(db, bus, settings, host_refresh_seconds=0.5)
    try:
        await conductor.start()
        yield BmRig(cloud, running)
    finally:
        await running.stop()
        await conductor.stop()
