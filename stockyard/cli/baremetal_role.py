"""The ``stockyard baremetal-agent`` role (see :mod:`stockyard.cli.baremetal_agent`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from pydantic import SecretStr

from stockyard.bus.base import Bus
from stockyard.compute.drivers.baremetal import BaremetalDriver
from stockyard.compute.drivers.base import DriverError
from stockyard.compute.node_agents import NodeAgents
from stockyard.compute.pool import AgentPool
from stockyard.image.store import ImageStore
from stockyard.lab.baremetal_images import ImageExporter

log = logging.getLogger("stockyard.role")


class BaremetalAgentRole:
    """The exporter, the region's driver and a pool of one agent per hwmgr node."""

    def __init__(
        self,
        bus: Bus,
        *,
        region: str,
        hwmgr_url: str,
        hwmgr_token: SecretStr,
        images_dir: Path,
        image_host: str,
        image_port: int,
        image_url: str | None,
        report_interval: float,
        rescan_interval: float,
    ) -> None:
        self.bus = bus
        self.region = region
        self.exporter = ImageExporter(ImageStore(images_dir), public_url=image_url)
        self.image_host = image_host
        self.image_port = image_port
        self.driver = BaremetalDriver(hwmgr_url, hwmgr_token, self.exporter.url_for, region=region)
        self.pool = AgentPool(bus, report_interval)
        self.nodes = NodeAgents(self.driver, self.pool, bus, report_interval, region)
        self.report_interval = report_interval
        self.rescan_interval = rescan_interval
        self._rescan: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.exporter.start(self.image_host, self.image_port)
        try:
            await self.nodes.sync()
        except DriverError as exc:
            # hwmgr may start after this role: /readyz says so and the rescan retries.
            log.warning("baremetal agent %s: hwmgr not reachable yet: %s", self.region, exc)
        await self.pool.start()
        self._rescan = asyncio.create_task(self.nodes.run(self.rescan_interval))

    async def ready(self) -> dict[str, bool]:
        """The bus and hwmgr answer (hwmgr's node list, cached for the driver's TTL)."""
        try:
            await self.driver.nodes()
            hwmgr = True
        except DriverError:
            hwmgr = False
        return {"bus": self.bus.healthy(), "hwmgr": hwmgr}

    async def stop(self) -> None:
        if self._rescan is not None:
            self._rescan.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._rescan
        await self.pool.stop()
        await self.driver.close()
        await self.exporter.stop()
