"""Many compute agents in one process: the emulated lab runs thousands of them on one loop.

Each agent still has its own topic and its own op tasks, but host reports come from one
pool task that walks all agents once per ``report_interval``, a slice per tick, in a
shuffled order: no timer per agent, and no burst of thousands of reports at once.

A tick's reports go out as ONE ``host_reports`` message on ``conductor.reports`` (see
the bus contract in ``stockyard.bus.base``): the conductor applies it in one
transaction, and reports never queue in front of op results on ``conductor``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Sequence

from stockyard.bus import contract
from stockyard.bus.base import Bus, Message
from stockyard.compute.agent import ComputeAgent

log = logging.getLogger(__name__)

# Reports go out in at most this many batches per interval: each batch is one conductor
# transaction, so fewer, larger batches are cheaper; ten still spreads the load.
_MAX_TICKS_PER_INTERVAL = 10

MAX_REPORTS_PER_MESSAGE = contract.REPORTS_PER_MESSAGE
"""Reports per ``host_reports`` message; larger ticks are split (bounded SQL IN lists)."""


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
            await self.publish_reports([agent])

    async def leave(self, host: str) -> None:
        """Stop ``host``'s agent and stop reporting it (its node left the hardware manager).

        The bus has no unsubscribe: the agent's topic stays consumed, but nothing sends
        to a host that is gone, and its ops in flight are cancelled as in ``stop``.
        """
        agent = self._agents.pop(host, None)
        if agent is not None:
            await agent.stop()

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
        return await self.publish_reports(list(self._agents.values()))

    async def publish_reports(self, agents: Sequence[ComputeAgent]) -> int:
        """Publish the reports of ``agents`` as ``host_reports`` batches; return the count.

        An agent whose driver fails to report is left out (and logged); the others go.
        """
        if not agents:
            return 0
        # Taken before the drivers are asked: the conductor only counts an instance as
        # missing if it has not changed since, so an early stamp errs on the safe side.
        taken_at = time.time()
        got = await asyncio.gather(*(a.host_report() for a in agents), return_exceptions=True)
        reports: list[Message] = []
        for agent, report in zip(agents, got, strict=True):
            if isinstance(report, asyncio.CancelledError):
                raise report
            if isinstance(report, BaseException):
                log.error("host report of %s failed", agent.host, exc_info=report)
                continue
            reports.append(report)
        sent = 0
        for start in range(0, len(reports), MAX_REPORTS_PER_MESSAGE):
            chunk = reports[start : start + MAX_REPORTS_PER_MESSAGE]
            batch = contract.HostReports(taken_at=taken_at, reports=chunk)
            try:
                await self.bus.publish(contract.REPORTS, contract.encode(batch))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("publishing %d host reports failed", len(chunk))
                continue
            sent += len(chunk)
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
                await self.publish_reports([a for a in agents[k::ticks] if a.host in self._agents])
