"""The conductor service: subscribes to ``conductor`` and ``conductor.reports`` and runs
the background loops."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from stockyard.bus import contract
from stockyard.bus.base import Bus, Message
from stockyard.conductor.actions import ActionFlow
from stockyard.conductor.hostsync import HostSync
from stockyard.conductor.interfaces import InterfaceFlow
from stockyard.conductor.portsync import PortSync
from stockyard.conductor.reconciler import Reconciler
from stockyard.conductor.volumes import VolumeFlow
from stockyard.db.base import Database
from stockyard.db.heartbeat import CONDUCTOR_BINARY, ServiceHeartbeat
from stockyard.lifecycle.isolation import isolated
from stockyard.placement.build import BuildFlow
from stockyard.placement.context import FlowContext, new_conductor_id
from stockyard.placement.hoststate import DEFAULT_UP_SECONDS, HostStateCache
from stockyard.scheduler import HostStateIndex, Scheduler, SchedulerConfig
from stockyard.settings import Settings

log = logging.getLogger(__name__)

REPORTS_CONCURRENCY = 2
"""Report batches applied at once: each is one write transaction, so more only contend."""
_ACCEPTED = (
    contract.BuildHint,
    contract.TaskHint,
    contract.OpResult,
    contract.HostReport,
    contract.HostReports,
)


class Conductor:
    """Drives instances' state machines. Several may run on one database and bus.

    ``start()`` loads host state, subscribes to ``conductor`` and ``conductor.reports``
    and starts the reconciler and the host-state refresher; ``stop()`` stops the loops
    (the bus is the caller's).
    """

    def __init__(
        self,
        db: Database,
        bus: Bus,
        settings: Settings,
        scheduler_config: SchedulerConfig | None = None,
        *,
        conductor_id: str | None = None,
        concurrency: int = 16,
        host_refresh_seconds: float = 30.0,
        host_up_seconds: float = DEFAULT_UP_SECONDS,
        op_lease_seconds: float | None = None,
        orphan_grace_seconds: float | None = None,
        remote_scheduling: bool = False,
    ) -> None:
        config = scheduler_config or SchedulerConfig(
            strategy=settings.weigher_strategy, max_candidates=settings.scheduler_max_candidates
        )
        self.scheduler = Scheduler(HostStateIndex(), config)
        self.ctx = FlowContext(
            db=db,
            bus=bus,
            settings=settings,
            scheduler=self.scheduler,
            conductor_id=conductor_id or new_conductor_id(),
            op_lease_seconds=op_lease_seconds,
        )
        self.hosts = HostStateCache(db, self.scheduler, host_up_seconds)
        self.build = BuildFlow(self.ctx, self.hosts)
        if remote_scheduling:
            # Placement belongs to ``stockyard scheduler`` processes (topic ``scheduler``);
            # builds, reschedules and stuck scheduling found by the reconciler go there.
            self.build.forward_to = contract.SCHEDULER
        self.actions = ActionFlow(self.ctx, self.hosts, self.build)
        self.portsync = PortSync(self.ctx)
        self.reconciler = Reconciler(
            self.ctx,
            self.build,
            self.actions,
            orphan_grace_seconds=orphan_grace_seconds,
            portsync=self.portsync,
        )
        self.hostsync = HostSync(self.ctx, self.hosts)
        self.volumes = VolumeFlow(self.ctx)
        self.interfaces = InterfaceFlow(self.ctx)
        self.heartbeat = ServiceHeartbeat(db, CONDUCTOR_BINARY)  # os-services
        self.concurrency = concurrency
        self.host_refresh_seconds = host_refresh_seconds
        self._tasks: list[asyncio.Task[None]] = []
        self._running = False

    @property
    def conductor_id(self) -> str:
        """``hostname-pid-random``: what this conductor writes into ``lease_owner``."""
        return self.ctx.conductor_id

    async def start(self, *, background: bool = True) -> None:
        """Load hosts, subscribe, start loops (``background=False``: no loops, for tests)."""
        await self.hosts.refresh()
        await self.heartbeat.start(loop=background)
        self._running = True
        await self.ctx.bus.subscribe(contract.CONDUCTOR, self.handle, concurrency=self.concurrency)
        await self.ctx.bus.subscribe(contract.REPORTS, self.handle, concurrency=REPORTS_CONCURRENCY)
        if background:
            self._tasks = [
                asyncio.create_task(self.reconciler.run_forever(), name="reconciler"),
                asyncio.create_task(self._refresh_forever(), name="host-refresh"),
                asyncio.create_task(self._volumes_forever(), name="volume-attachments"),
            ]

    async def stop(self) -> None:
        """Stop the loops; messages still delivered to this conductor are dropped."""
        self._running = False
        await self.heartbeat.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def handle(self, message: Message) -> None:
        """Dispatch one ``conductor`` or ``conductor.reports`` message (the contract is
        :mod:`stockyard.bus.contract`); either topic accepts either kind of report.

        Malformed or unexpected messages are logged and dropped. A message about an
        instance whose flow raises is handled by :func:`isolated`: logged with the
        instance id, the instance failed readably unless the error may pass.
        """
        if not self._running:
            return
        msg = contract.decode(message, _ACCEPTED, "conductor")
        if msg is None:
            return
        if isinstance(msg, contract.HostReport | contract.HostReports):
            await self.hostsync.on_report(msg)
            return
        if isinstance(msg, contract.BuildHint):
            # One line per unit of work, tagged with the user's request id by the log filter.
            log.info("conductor: build %d", len(msg.instance_uuids))
            await self.build.handle_build(msg.instance_uuids)
            return
        db = self.ctx.db
        if isinstance(msg, contract.TaskHint):
            log.info("conductor: task %s", msg.instance_uuid)
            await isolated(db, [msg.instance_uuid], "acting on its task",
                           self.actions.handle_task(msg.instance_uuid))  # fmt: skip
            await self.volumes.handle_instance(msg.instance_uuid)
            await self.interfaces.handle_instance(msg.instance_uuid)
        elif not isinstance(msg, contract.OpResult):
            log.warning("conductor: %s message dropped", type(msg).__name__)
        elif msg.op in ("attach_volume", "detach_volume"):
            log.info("conductor: op_result %s %s", msg.op, msg.instance_uuid)
            await self.volumes.on_result(msg)
        elif msg.op in ("attach_interface", "detach_interface"):
            log.info("conductor: op_result %s %s", msg.op, msg.instance_uuid)
            await isolated(db, [msg.instance_uuid], f"applying its {msg.op} result",
                           self.interfaces.on_result(msg))  # fmt: skip
        elif msg.op == "update_ports":
            await isolated(db, [msg.instance_uuid], "applying its port update result",
                           self.portsync.on_result(msg))  # fmt: skip
        elif msg.op == "spawn":
            log.info("conductor: op_result spawn %s", msg.instance_uuid)
            await isolated(db, [msg.instance_uuid], "applying its build result",
                           self.build.on_spawn_result(msg))  # fmt: skip
        else:
            log.info("conductor: op_result %s %s", msg.op, msg.instance_uuid)
            await isolated(db, [msg.instance_uuid], f"applying its {msg.op} result",
                           self.actions.on_result(msg))  # fmt: skip

    async def _volumes_forever(self) -> None:
        while True:
            await asyncio.sleep(max(1.0, self.ctx.settings.reconcile_interval_seconds))
            try:
                await self.volumes.reconcile_once()
                await self.interfaces.reconcile_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("volume attachment / interface reconcile failed")

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self.host_refresh_seconds)
            try:
                await self.hosts.refresh()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("host state refresh failed")
