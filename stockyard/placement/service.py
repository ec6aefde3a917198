"""The scheduler role: consumes ``build`` hints on topic ``scheduler`` and places them.

(It lives in ``placement``, not ``scheduler``: the scheduler package is the pure
in-memory engine, and this role runs the placement flow the conductor runs too.)

Each scheduler process keeps its own in-memory host index (refreshed from the database
periodically and per host after a lost claim). Correctness with several schedulers does
not rest on that index: placement is the conductor's :class:`BuildFlow` — instance
leases, conditional-UPDATE claims on hosts and the server group's compare-and-swap lock
— so two schedulers never both win the same capacity nor break a group's policy. A
scheduler that dies loses its leases at expiry; a conductor's reconciler then re-sends
the rows to ``scheduler``.

Bursts: hints are not placed one message at a time. Every hint received while a pass
runs waits in a queue, and the next pass takes all of them (up to
``scheduler_burst_max`` instances): one lease transaction and one placement transaction
per burst instead of per request (on SQLite, passes of at most
``burst.SQLITE_PASS_MAX``). A handler returns (and its message is acknowledged) once
the pass holding its instances is over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy import text

from stockyard.bus import contract, reqid
from stockyard.bus.base import Bus, Message
from stockyard.db.base import Database
from stockyard.db.heartbeat import SCHEDULER_BINARY, ServiceHeartbeat
from stockyard.placement.build import BuildFlow
from stockyard.placement.context import FlowContext, new_conductor_id
from stockyard.placement.hoststate import DEFAULT_UP_SECONDS, HostStateCache
from stockyard.scheduler.engine import Scheduler
from stockyard.scheduler.index import HostStateIndex
from stockyard.scheduler.registry import SchedulerConfig
from stockyard.settings import Settings

log = logging.getLogger(__name__)


class SchedulerService:
    """One scheduler process (or one of the roles of ``stockyard up``).

    Messages on ``scheduler``: :class:`~stockyard.bus.contract.BuildHint` from the API (a
    multi-create) and from conductors (reschedules, stuck scheduling). Rows found deleted
    while being placed are handed to the conductor as a ``TaskHint``.
    """

    def __init__(
        self,
        db: Database,
        bus: Bus,
        settings: Settings,
        *,
        scheduler_id: str | None = None,
        concurrency: int = 8,
        host_refresh_seconds: float | None = None,
        host_up_seconds: float = DEFAULT_UP_SECONDS,
    ) -> None:
        config = SchedulerConfig(
            strategy=settings.weigher_strategy, max_candidates=settings.scheduler_max_candidates
        )
        self.scheduler = Scheduler(HostStateIndex(), config)
        self.ctx = FlowContext(
            db=db,
            bus=bus,
            settings=settings,
            scheduler=self.scheduler,
            conductor_id=scheduler_id or f"sched-{new_conductor_id()}",
        )
        self.hosts = HostStateCache(db, self.scheduler, host_up_seconds)
        self.build = BuildFlow(self.ctx, self.hosts)
        self.build.on_task_changed = self._to_conductor
        self.heartbeat = ServiceHeartbeat(db, SCHEDULER_BINARY)  # os-services
        self.burst_max = settings.scheduler_burst_max
        # Bursts on SQLite too, since the hwmgr client queues outside httpx and hwmgr
        # runs in a process of its own (they once overran the lab there: 521 ACTIVE of
        # 1,000). Measured on 2 cores against one message per placement: bench_api 200
        # creates all ACTIVE in 3.7-4.3 s against 5.9-6.1 s (CPU per create 18-21 ms
        # against 29-30 ms). A pass holds the single writer for its whole transaction;
        # the writer gate lets API requests' writes go first (sqlite_gate.urgent), which
        # keeps the 202 tail where it was (p99 0.75-0.85 s).
        # Enough messages in flight to fill a burst (one create request per message).
        self.concurrency = max(concurrency, self.burst_max)
        self._queue = BurstQueue(self.build.handle_build, self.burst_max)
        self.host_refresh_seconds = (
            host_refresh_seconds
            if host_refresh_seconds is not None
            else settings.scheduler_refresh_seconds
        )
        self._task: asyncio.Task[None] | None = None
        self._running = False

    @property
    def scheduler_id(self) -> str:
        """What this scheduler writes into ``lease_owner`` while it places rows."""
        return self.ctx.conductor_id

    async def start(self) -> None:
        """Load hosts, subscribe to ``scheduler``, start the host refresher."""
        await self.hosts.refresh()
        await self.heartbeat.start()
        self._running = True
        await self.ctx.bus.subscribe(contract.SCHEDULER, self.handle, concurrency=self.concurrency)
        self._task = asyncio.create_task(self._refresh_forever(), name="scheduler-refresh")

    async def stop(self) -> None:
        """Stop the refresher; messages still delivered here are dropped (hints)."""
        self._running = False
        await self._queue.stop()
        await self.heartbeat.stop()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def handle(self, message: Message) -> None:
        """Queue one ``build`` hint for the next burst; return once it was placed."""
        if not self._running:
            return
        hint = contract.decode_as(message, contract.BuildHint, "scheduler")
        if hint is None:
            return
        await self._queue.submit(hint.instance_uuids)

    async def ready(self) -> bool:
        """Database reachable and bus healthy."""
        return await db_reachable(self.ctx.db) and self.ctx.bus.healthy()

    async def _to_conductor(self, uuid: str) -> None:
        hint = contract.TaskHint(instance_uuid=uuid, request_id=reqid.current())
        await self.ctx.bus.publish(contract.CONDUCTOR, contract.encode(hint))

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self.host_refresh_seconds)
            try:
                await self.hosts.refresh()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("scheduler host refresh failed")


class BurstQueue:
    """Gathers the instances of many hints and places them together, one pass at a time.

    ``place`` gets up to ``max_size`` instances per call (whole hints, never split;
    at least one hint however large). Calls never overlap, so a burst sees the
    placements of the one before it in the scheduler's memory.
    """

    def __init__(self, place: Callable[[list[str]], Awaitable[None]], max_size: int) -> None:
        self._place = place
        self._max = max_size
        self._waiting: list[tuple[list[str], asyncio.Future[None]]] = []
        self._runner: asyncio.Task[None] | None = None

    async def submit(self, uuids: list[str]) -> None:
        """Queue ``uuids``; return once the burst holding them was placed."""
        if not uuids:
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((list(uuids), done))
        # Logged here, in the hint's own context, so that its request id is traceable
        # into the scheduler; the burst's lines below carry none.
        log.info("scheduler: %d instance(s) queued for the next burst", len(uuids))
        if self._runner is None or self._runner.done():
            # A burst serves many requests: its own log lines carry none of their ids
            # (the spawn ops it sends carry each instance's).
            with reqid.bound(None):
                self._runner = asyncio.create_task(self._run(), name="scheduler-burst")
        await asyncio.shield(done)

    async def stop(self) -> None:
        """Cancel the running pass (its leases expire; the reconciler resends)."""
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
            self._runner = None
        for _uuids, done in self._waiting:
            done.cancel()
        self._waiting.clear()

    async def _run(self) -> None:
        while self._waiting:
            taken: list[tuple[list[str], asyncio.Future[None]]] = []
            size = 0
            while self._waiting and (not taken or size + len(self._waiting[0][0]) <= self._max):
                item = self._waiting.pop(0)
                taken.append(item)
                size += len(item[0])
            uuids = list(dict.fromkeys(u for item, _ in taken for u in item))
            log.info("scheduler: placing %d instance(s) of %d request(s)", len(uuids), len(taken))
            try:
                await self._place(uuids)
            except Exception:
                # Placement isolates its own failures; this is a last resort, and the
                # rows stay in ``scheduling`` for the reconciler.
                log.exception("scheduler: a burst of %d instance(s) failed", len(uuids))
            finally:
                for _item, done in taken:
                    if not done.done():
                        done.set_result(None)


async def db_reachable(db: Database) -> bool:
    """``SELECT 1`` answers (for readiness endpoints)."""
    try:
        async with db.session() as s:
            await s.execute(text("SELECT 1"))
    except Exception:
        return False
    return True
