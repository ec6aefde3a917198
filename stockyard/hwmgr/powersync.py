"""Periodic power-state sync: hwmgr reads every idle node's BMC and records what it says.

Ironic's conductor does the same (``sync_power_state_interval``): a server switched off
at its button or through its BMC is otherwise noticed only at the node's next op. The
cloud learns it from the recorded state: the baremetal agents' host reports read hwmgr's
node list, and the conductor turns an ACTIVE server whose node is off into SHUTOFF.

Rules:

- Only nodes no task or verb owns are read: provision state ``available``, ``active`` or
  ``error`` (``enrolled`` ones have unchecked BMC details) and no live ``reservation``.
  The sync takes no node lock itself, so a power verb is never refused because a read is
  in flight; it records a new state with a conditional UPDATE that matches only if the
  row is unchanged since the pass read it (``updated_at``, which every lock take, task
  move and recorded power bumps). A verb that ran during the read wins; the next pass
  looks again.
- Power is never forced back: the cloud side decides what a change means.
- At most ``workers`` reads at once, their starts spread evenly over the first half of
  the interval, so a large fleet does not hit its BMCs (and one Redfish service holding
  many systems) in one burst. BMC calls run on the BMC layer's thread pool.
- A read that fails or times out records nothing and is counted; the warning is logged
  once per failing streak, and once more when the BMC answers again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import CursorResult, or_, select, update

from stockyard.db.base import Database, utcnow
from stockyard.hwmgr.bmcport import BMCFactory, close_bmc, error_text, target_of
from stockyard.hwmgr.crypto import SecretBox
from stockyard.hwmgr.db.models import Node
from stockyard.hwmgr.tasks import states as st

log = logging.getLogger(__name__)

SYNCED_STATES = frozenset({st.AVAILABLE, st.ACTIVE, st.ERROR})
"""Provision states whose nodes the sync reads (tasks own deploying and cleaning)."""

SPREAD = 0.5
"""Share of the interval over which one pass spreads its reads' starts."""


@dataclass
class PassResult:
    """What one pass did."""

    nodes: int = 0
    read: int = 0
    failed: int = 0
    changed: int = 0
    # Read, but a verb or task touched the node meanwhile: nothing recorded.
    overtaken: int = 0


@dataclass
class SyncCounters:
    """Totals since start (observability and tests)."""

    passes: int = 0
    reads: int = 0
    failed_reads: int = 0
    changes: int = 0
    overtaken: int = 0
    # Node uuid -> consecutive failed reads; a node leaves it when its BMC answers.
    failing: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class _Seen:
    uuid: str
    name: str
    power: str | None
    updated_at: datetime | None
    node: Node


class PowerSync:
    """Reads idle nodes' power from their BMCs every ``interval`` s (0: never)."""

    def __init__(
        self,
        db: Database,
        box: SecretBox,
        bmc_factory: BMCFactory,
        *,
        interval: float,
        workers: int = 8,
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be >= 1")
        self.db = db
        self.box = box
        self.bmc_factory = bmc_factory
        self.interval = interval
        self.workers = workers
        self.counters = SyncCounters()
        self._task: asyncio.Task[None] | None = None
        self._pass_done = asyncio.Condition()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Begin the periodic passes (no-op when the interval is 0 or already running)."""
        if self.interval > 0 and not self.running:
            self._task = asyncio.create_task(self._run(), name="hwmgr-power-sync")

    async def stop(self) -> None:
        """Stop; a pass in flight is cut (it records nothing half-way: one UPDATE per node)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def wait_passes(self, count: int = 1) -> None:
        """Until ``count`` more passes have ended (tests; callers bound it themselves)."""
        async with self._pass_done:
            target = self.counters.passes + count
            await self._pass_done.wait_for(lambda: self.counters.passes >= target)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        # The first pass one interval after start, plus jitter: hwmgrs started together
        # (and restarts) do not line up their passes.
        await asyncio.sleep(self.interval * (1 + random.random() / 2))
        while True:
            began = loop.time()
            try:
                await self.sync_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                # The database may be briefly unreachable: the next pass tries again.
                log.exception("power sync pass failed")
            await asyncio.sleep(max(0.0, self.interval - (loop.time() - began)))

    async def sync_once(self) -> PassResult:
        """One pass over every idle node; returns what it did."""
        result = PassResult()
        nodes = await self._idle_nodes()
        result.nodes = len(nodes)
        present = {n.uuid for n in nodes}
        for gone in [u for u in self.counters.failing if u not in present]:
            del self.counters.failing[gone]  # deleted or busy now: its streak ends
        gap = self.interval * SPREAD / len(nodes) if nodes and self.interval > 0 else 0.0
        slots = asyncio.Semaphore(self.workers)
        async with asyncio.TaskGroup() as group:
            for seen in nodes:
                await slots.acquire()
                group.create_task(self._read_one(seen, slots, result))
                if gap:
                    await asyncio.sleep(gap)
        c = self.counters
        c.reads += result.read
        c.failed_reads += result.failed
        c.changes += result.changed
        c.overtaken += result.overtaken
        async with self._pass_done:
            c.passes += 1
            self._pass_done.notify_all()
        log.debug("power sync pass: %s", result)
        return result

    async def _idle_nodes(self) -> list[_Seen]:
        now = utcnow()
        async with self.db.session() as session:
            rows = (
                await session.scalars(
                    select(Node)
                    .where(
                        Node.provision_state.in_(SYNCED_STATES),
                        or_(Node.reservation.is_(None), Node.reserved_until < now),
                    )
                    .order_by(Node.name)
                )
            ).all()
            return [_Seen(n.uuid, n.name, n.power_state, n.updated_at, n) for n in rows]

    async def _read_one(self, seen: _Seen, slots: asyncio.Semaphore, result: PassResult) -> None:
        try:
            power = await self._ask(seen)
            if power is None:
                result.failed += 1
                return
            result.read += 1
            if power != seen.power:
                if await self._record(seen, power):
                    result.changed += 1
                    log.info(
                        "node %s (%s): power %s -> %s (read by the power sync)",
                        seen.uuid,
                        seen.name,
                        seen.power or "unknown",
                        power,
                    )
                else:
                    result.overtaken += 1
        except Exception:
            # One node's trouble (its row, its secret) must not end the pass for the rest.
            result.failed += 1
            log.exception("power sync of node %s failed", seen.uuid)
        finally:
            slots.release()

    async def _ask(self, seen: _Seen) -> str | None:
        """The BMC's power state, or None (failure counted, warned once per streak)."""
        try:
            bmc = self.bmc_factory(target_of(seen.node, self.box))
        except Exception as exc:
            self._failed(seen, exc)
            return None
        try:
            power = await bmc.power_state()
            if power not in ("on", "off"):
                raise ValueError(f"BMC answered power state {power!r}")
        except Exception as exc:
            self._failed(seen, exc)
            return None
        finally:
            with contextlib.suppress(Exception):
                await close_bmc(bmc)
        streak = self.counters.failing.pop(seen.uuid, 0)
        if streak:
            log.info(
                "node %s (%s): BMC answers the power sync again after %d failed read(s)",
                seen.uuid,
                seen.name,
                streak,
            )
        return power

    def _failed(self, seen: _Seen, exc: BaseException) -> None:
        streak = self.counters.failing.get(seen.uuid, 0) + 1
        self.counters.failing[seen.uuid] = streak
        if streak == 1:
            log.warning(
                "node %s (%s): power sync cannot read its BMC, power state left as "
                "recorded (%s); retried every %g s, logged again once it answers: %s",
                seen.uuid,
                seen.name,
                seen.power or "unknown",
                self.interval,
                error_text(exc),
            )

    async def _record(self, seen: _Seen, power: str) -> bool:
        """Record ``power`` if nothing touched the node since the pass read it."""
        unchanged = (
            Node.updated_at.is_(None)
            if seen.updated_at is None
            else Node.updated_at == seen.updated_at
        )
        async with self.db.session() as session:
            outcome = await session.execute(
                update(Node)
                .where(
                    Node.uuid == seen.uuid,
                    unchanged,
                    Node.provision_state.in_(SYNCED_STATES),
                    or_(Node.reservation.is_(None), Node.reserved_until < utcnow()),
                )
                .values(power_state=power)
                .execution_options(synchronize_session=False)
            )
            assert isinstance(outcome, CursorResult)
            return outcome.rowcount == 1
