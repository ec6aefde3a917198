"""Many compute agents in one process: the emulated lab runs thousands of them on one loop.

Each agent still has its own topic and its own op tasks, but host reports come from one
pool task that walks all agents once per ``report_interval``, a slice per tick, in a
shuffled order: no timer per agent, and no burst of thousands of reports at once.
"""

from __future__ import annotations

import asyncio
import logging
import random

from stockyard.bus.base import Bus
from stockyard.compute.agent import ComputeAgent

log = logging.getLogger(__name__)

# Reports go out in at most this many slices per interval; more slices buy nothing but
# wake-ups.
_MAX_TICKS_PER_INTERVAL = 100


class AgentPool:
    """Owns many ``ComputeAgent`` objects sharing one bus and one report task."""

    def __init__(self, bus: Bus, report_interval: float = 10.0, *, seed: int | None = None) -> None:
        if report_interval <= 0:
            raise ValueError("report_interval must be > 0")
        self.bus = bus
        self.report_interval = report_interval
        self._agents: dict[str, ComputeAgent] = {}
        self._random = random.Random(seed)
        self._report_task: asyncio.Task[None] | None = None

    @property
    def agents(self) -> dict[str, ComputeAgent]:
        """The agents by host name (do not mutate; use ``add``)."""
        return self._agents

    @property
    def running(self) -> bool:
        return self._report_task is not None

    def agent(self, host: str) -> ComputeAgent:
        """The agent of ``host``; ``KeyError`` if the pool has none."""
        return self._agents[host]

    def add(self, agent: ComputeAgent) -> None:
        """Register an agent; it starts with the pool (use ``join`` once the pool runs)."""
        if agent.host in self._agents:
            raise ValueError(f"the pool already has an agent for host {agent.host}")
        self._agents[agent.host] = agent

    async def join(self, agent: ComputeAgent) -> None:
        """Add an agent; if the pool already runs, it subscribes and reports at once."""
        self.add(agent)
        if self.running:
            await agent.subscribe()
            await agent.report()

    async def start(self) -> None:
        """Subscribe every agent, publish one report per host now, then report periodically."""
        if self.running:
            return
        for agent in self._agents.values():
            await agent.subscribe()
        await self.report_all()
        self._report_task = asyncio.create_task(self._report_loop())

    async def report_all(self) -> int:
        """Publish a host report for every agent now; return how many went out."""
        sent = 0
        for agent in list(self._agents.values()):
            if await self._report(agent):
                sent += 1
        return sent

    async def drain(self) -> None:
        """Wait until every agent has answered the ops it has received."""
        await asyncio.gather(*(agent.drain() for agent in self._agents.values()))

    async def stop(self) -> None:
        """Stop the report task and every agent (ops in flight are cancelled)."""
        task, self._report_task = self._report_task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await asyncio.gather(
            *(agent.stop() for agent in self._agents.values()), return_exceptions=True
        )

    async def _report(self, agent: ComputeAgent) -> bool:
        try:
            await agent.report()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("host report of %s failed", agent.host)
            return False
        return True

    async def _report_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            agents = list(self._agents.values())
            # A new order every cycle: the jitter that keeps reports from lining up.
            self._random.shuffle(agents)
            ticks = max(1, min(len(agents), _MAX_TICKS_PER_INTERVAL))
            tick = self.report_interval / ticks
            cycle_start = loop.time()
            for k in range(ticks):
                delay = cycle_start + (k + 1) * tick - loop.time()
                await asyncio.sleep(max(0.0, delay))
                for agent in agents[k::ticks]:
                    if agent.host in self._agents:
                        await self._report(agent)
