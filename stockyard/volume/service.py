"""The ``volume`` role: hears :class:`~stockyard.bus.contract.VolumeHint` on topic
``volume`` and runs the row's step under a lease; its reconciler finds rows nobody drives
(a lost hint, a worker that died) and resumes them, or, past
``volume_task_timeout_seconds``, ends them in Cinder's error status with a reason.

Several volume roles may run: the lease decides who works on a row. Messages are hints:
the handler acts on the row's current status, so a duplicate hint does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, or_, select

from stockyard.bus import contract
from stockyard.bus.base import Bus
from stockyard.db.base import Database, utcnow
from stockyard.db.heartbeat import (
    CINDER_SCHEDULER_BINARY,
    CINDER_VOLUME_BINARY,
    ServiceHeartbeat,
    service_host,
)
from stockyard.db.models import Volume, VolumeSnapshot
from stockyard.settings import Settings
from stockyard.volume import leases
from stockyard.volume.builds import wake_builds
from stockyard.volume.drivers import build_backends
from stockyard.volume.drivers.base import VolumeDriver, VolumeDriverError
from stockyard.volume.states import SNAPSHOT_WORK, VOLUME_WORK, VolumeStatus
from stockyard.volume.worker import Outcome, StepFailed, Steps

log = logging.getLogger(__name__)

Row = Volume | VolumeSnapshot
_VERBS = {"creating": "create", "deleting": "delete", "extending": "extend"}


class VolumeService:
    """One volume role process (or the volume part of ``stockyard up``)."""

    def __init__(
        self,
        db: Database,
        bus: Bus,
        settings: Settings,
        backends: dict[str, VolumeDriver] | None = None,
    ) -> None:
        self.db = db
        self.bus = bus
        self.settings = settings
        self.backends = backends if backends is not None else build_backends(settings)
        self.steps = Steps(db, settings, self.backends)
        self.worker_id = f"volume:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._tasks: list[asyncio.Task[None]] = []
        self._running: set[tuple[str, str]] = set()
        # os-services in the Block Storage API: this role schedules (picks the backend
        # from the type) and serves each configured backend.
        host = service_host()
        self.heartbeats = [ServiceHeartbeat(db, CINDER_SCHEDULER_BINARY, host=host)] + [
            ServiceHeartbeat(db, CINDER_VOLUME_BINARY, host=f"{host}@{name}")
            for name in self.backends
        ]

    async def start(self, *, background: bool = True) -> None:
        """Check the backends, subscribe, start the reconciler (unless ``background``
        is False, for tests that call :meth:`reconcile_once` themselves)."""
        for name, driver in list(self.backends.items()):
            try:
                await driver.check()
            except VolumeDriverError as exc:
                # The rest of the cloud still starts; work for this backend fails with
                # the reason instead of waiting forever.
                log.error("volume backend %s unavailable: %s", name, exc)
                self.steps.broken[name] = str(exc)
        for heartbeat in self.heartbeats:
            await heartbeat.start(loop=background)
        await self.bus.subscribe(contract.VOLUME, self.handle, concurrency=8)
        if background:
            self._tasks.append(asyncio.create_task(self._reconcile_forever(), name="volumes"))

    async def stop(self) -> None:
        for heartbeat in self.heartbeats:
            await heartbeat.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def handle(self, raw: object) -> None:
        hint = contract.decode_as(raw, contract.VolumeHint, contract.VOLUME)
        if hint is not None:
            await self.work(hint.resource, hint.id)

    async def work(self, resource: str, row_id: str) -> bool:
        """Run the row's step if it is in an -ing status and free; True if it ran."""
        key = (resource, row_id)
        if key in self._running:
            return False
        self._running.add(key)
        try:
            ran = await self._work(resource, row_id)
        finally:
            self._running.discard(key)
        if ran and resource == "volume":
            # Servers whose build waits for this volume (boot from volume) go on now,
            # not at the conductor's next reconciler pass.
            await wake_builds(self.db, self.bus, row_id)
        return ran

    def _model(self, resource: str) -> type[Volume] | type[VolumeSnapshot]:
        return Volume if resource == "volume" else VolumeSnapshot

    async def _work(self, resource: str, row_id: str) -> bool:
        model = self._model(resource)
        table = VOLUME_WORK if resource == "volume" else SNAPSHOT_WORK
        async with self.db.session() as s:
            row: Row | None = await s.get(model, row_id)
            if row is None or row.status not in table:
                return False
            status = row.status
            now = utcnow()
            if not await leases.acquire(
                s, model, row_id, status, self.worker_id, now, self._until()
            ):
                return False
        async with self.db.session() as s:
            row = await s.get(model, row_id)
        assert row is not None
        timeout = self.settings.volume_task_timeout_seconds
        started = row.task_started_at or utcnow()
        if utcnow() - started > timedelta(seconds=timeout):
            verb = _VERBS.get(status, status)
            await self._fail(
                model,
                row_id,
                table[status][1],
                f"The volume service did not {verb} the {resource} within {timeout} s.",
            )
            return True
        renewer = asyncio.create_task(self._renew(model, row_id))
        try:
            if isinstance(row, Volume):
                outcome = await self.steps.run_volume(row)
            else:
                outcome = await self.steps.run_snapshot(row)
        except (StepFailed, VolumeDriverError) as exc:
            log.warning("%s %s: %s failed: %s", resource, row_id, status, exc)
            await self._fail(model, row_id, table[status][1], str(exc))
            return True
        except Exception as exc:
            log.exception("%s %s: %s failed", resource, row_id, status)
            await self._fail(model, row_id, table[status][1], f"Unexpected error: {exc}")
            return True
        finally:
            renewer.cancel()
            # gather, not suppress(CancelledError): a cancel of this task arriving while it
            # waits for the renewer must not be swallowed, or the bus consumer running it
            # goes on and its close waits forever (seen as a hung test teardown).
            await asyncio.gather(renewer, return_exceptions=True)
        await self._done(model, row_id, table[status][0], outcome)
        return True

    @staticmethod
    def _ended(model: type[Volume] | type[VolumeSnapshot], status: str) -> Any:
        """The status a volume's create ends in: ``deleting`` instead when the server it
        was made for was deleted meanwhile (``delete_when_made``, read by the UPDATE
        itself so that a delete racing the end of the create is never missed)."""
        if model is Volume:
            made_for_nobody = and_(
                Volume.delete_when_made.is_(True), Volume.status == VolumeStatus.CREATING
            )
            return case((made_for_nobody, VolumeStatus.DELETING), else_=status)
        return status

    async def _delete_if_orphaned(
        self, model: type[Volume] | type[VolumeSnapshot], row_id: str
    ) -> None:
        if model is not Volume:
            return
        async with self.db.session() as s:
            row = await s.get(Volume, row_id)
            orphaned = row is not None and row.status == VolumeStatus.DELETING
        if orphaned:
            log.info("volume %s: made for a server deleted meanwhile; deleting it", row_id)
            hint = contract.VolumeHint(resource="volume", id=row_id)
            await self.bus.publish(contract.VOLUME, contract.encode(hint))

    def _until(self) -> datetime:
        return utcnow() + timedelta(seconds=self.settings.lease_seconds)

    async def _renew(self, model: type[Volume] | type[VolumeSnapshot], row_id: str) -> None:
        # A long qemu-img copy must not let the lease lapse, or a reconciler elsewhere
        # would start the same step again.
        while True:
            await asyncio.sleep(max(1.0, self.settings.lease_seconds / 3))
            async with self.db.session() as s:
                await leases.renew(s, model, row_id, self.worker_id, self._until())

    async def _done(
        self,
        model: type[Volume] | type[VolumeSnapshot],
        row_id: str,
        status: str | None,
        outcome: Outcome,
    ) -> None:
        async with self.db.session() as s:
            if outcome.removed or status is None:
                ok = await leases.remove(s, model, row_id, self.worker_id)
            else:
                ok = await leases.finish(
                    s,
                    model,
                    row_id,
                    self.worker_id,
                    status=self._ended(model, status),
                    status_reason=None,
                    **outcome.values,
                )
        if not ok:
            log.info("%s %s: lease lost, result dropped", model.__tablename__, row_id)
        elif status is not None and not outcome.removed:
            await self._delete_if_orphaned(model, row_id)

    async def _fail(
        self, model: type[Volume] | type[VolumeSnapshot], row_id: str, status: str, reason: str
    ) -> None:
        values: dict[str, object] = {"status": self._ended(model, status), "status_reason": reason}
        if model is Volume:
            values["new_size"] = None  # a failed extend keeps the old size
        async with self.db.session() as s:
            ok = await leases.finish(s, model, row_id, self.worker_id, **values)
        if ok:
            await self._delete_if_orphaned(model, row_id)

    async def reconcile_once(self) -> int:
        """One pass over rows nobody drives; returns how many steps it ran."""
        now = utcnow()
        grace = now - timedelta(seconds=max(1.0, self.settings.reconcile_interval_seconds))
        found: list[tuple[str, str]] = []
        async with self.db.session() as s:
            for resource, model, table in (
                ("volume", Volume, VOLUME_WORK),
                ("snapshot", VolumeSnapshot, SNAPSHOT_WORK),
            ):
                stmt = (
                    select(model.id)
                    .where(
                        model.status.in_(list(table)),
                        or_(
                            model.lease_expires < now,
                            and_(
                                model.lease_owner.is_(None),
                                or_(
                                    model.task_started_at.is_(None),
                                    model.task_started_at < grace,
                                ),
                            ),
                        ),
                    )
                    .limit(200)
                )
                found.extend((resource, row_id) for row_id in await s.scalars(stmt))
        done = 0
        for resource, row_id in found:
            if await self.work(resource, row_id):
                done += 1
        return done

    async def _reconcile_forever(self) -> None:
        while True:
            try:
                if count := await self.reconcile_once():
                    log.info("volume reconciler: %d step(s) resumed", count)
            except Exception:
                log.exception("volume reconciler pass failed")
            await asyncio.sleep(self.settings.reconcile_interval_seconds)
