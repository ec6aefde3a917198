"""One compute agent per baremetal node of a region, following hwmgr's node list.

Nodes are enrolled and deleted while the cloud runs (the stock API's
``POST /v1/nodes``): the baremetal agent (the separate role, or ``stockyard up``'s
in-process one) lists hwmgr's nodes every so often, gives each new node an agent in its
pool (it reports at once, so the node is up for the scheduler) and takes the agent of a
deleted node out (no more reports for a host that is gone).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from stockyard.bus.base import Bus
from stockyard.compute.agent import ComputeAgent
from stockyard.compute.drivers.baremetal import BaremetalDriver
from stockyard.compute.drivers.base import DriverError
from stockyard.compute.pool import AgentPool

log = logging.getLogger(__name__)


class NodeAgents:
    """Keeps ``pool`` holding one agent per node of ``driver``'s region."""

    def __init__(
        self,
        driver: BaremetalDriver,
        pool: AgentPool,
        bus: Bus,
        report_interval: float,
        region: str,
        known: Iterable[str] = (),
    ) -> None:
        self.driver = driver
        self.pool = pool
        self.bus = bus
        self.report_interval = report_interval
        self.region = region
        # The names this region's agents serve (a pool may hold several regions' agents).
        self.names: set[str] = set(known)

    async def sync(self, max_age: float | None = 0) -> tuple[list[str], list[str]]:
        """Add agents for new nodes, remove those of deleted ones; returns (added, removed).

        ``max_age``: how old a cached node list may be (``None``: the driver's own TTL,
        which its reports already refresh, so a frequent sync costs no extra call).
        """
        nodes = await self.driver.nodes(max_age=max_age)
        new = sorted(n for n in nodes if n not in self.names and n not in self.pool.agents)
        gone = sorted(n for n in self.names if n not in nodes)
        for name in new:
            agent = ComputeAgent(name, self.driver.for_node(name), self.bus, self.report_interval)
            await self.pool.join(agent)
            self.names.add(name)
        for name in gone:
            await self.pool.leave(name)
            self.names.discard(name)
        if new:
            log.info("baremetal agent %s: serving node(s) %s", self.region, ", ".join(new))
        if gone:
            log.info("baremetal agent %s: node(s) %s left", self.region, ", ".join(gone))
        return new, gone

    async def run(self, interval: float, max_age: float | None = 0) -> None:
        """``sync`` every ``interval`` seconds until cancelled; hwmgr errors are logged."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.sync(max_age)
            except DriverError as exc:
                log.warning("baremetal agent %s: node rescan failed: %s", self.region, exc)
            except Exception:
                log.exception("baremetal agent %s: node rescan failed", self.region)
