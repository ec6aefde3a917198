"""The reconciler: messages are hints, so anything stuck is found here and resumed.

A task is stuck when its lease expired (a conductor died mid-flow, an op or its result
was lost) or when no conductor ever took it (the API's hint was lost). Scheduling is
re-run, ops are re-sent with a new op id, and tasks past their deadline fail with a
readable fault (deletes excepted: they are retried until done).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from sqlalchemy import and_, func, or_, select

from stockyard.conductor.actions import TASK_OPS, ActionFlow
from stockyard.conductor.portsync import PortSync
from stockyard.db.base import utcnow
from stockyard.db.models import Instance
from stockyard.db.retry import retried_flow
from stockyard.lifecycle import leases, records
from stockyard.lifecycle.isolation import isolated
from stockyard.lifecycle.records import EV_SCHEDULE, OP_EVENTS
from stockyard.lifecycle.states import TaskState
from stockyard.placement import boot_volumes
from stockyard.placement.build import BuildFlow
from stockyard.placement.context import FlowContext

log = logging.getLogger(__name__)


class Reconciler:
    """Finds instances whose task nobody drives and resumes or fails them."""

    def __init__(
        self,
        ctx: FlowContext,
        build: BuildFlow,
        actions: ActionFlow,
        *,
        orphan_grace_seconds: float | None = None,
        batch_size: int = 500,
        portsync: PortSync | None = None,
    ) -> None:
        self.ctx = ctx
        self.build = build
        self.actions = actions
        # A task the API wrote a moment ago is normally taken by its hint; give the hint
        # that long before treating the task as orphaned.
        self.grace = (
            orphan_grace_seconds
            if orphan_grace_seconds is not None
            else max(1.0, ctx.settings.reconcile_interval_seconds)
        )
        self.batch_size = batch_size
        self.portsync = portsync

    async def run_once(self) -> int:
        """One pass; returns how many instances it resumed or failed."""
        now = utcnow()
        orphaned_before = now - timedelta(seconds=self.grace)
        deadline = now - timedelta(seconds=self.ctx.settings.build_timeout_seconds)
        stmt = (
            select(Instance.uuid, Instance.task_state, Instance.task_started_at)
            .where(
                Instance.task_state.is_not(None),
                Instance.deleted.is_(False),
                or_(
                    Instance.lease_expires < now,
                    and_(
                        Instance.lease_owner.is_(None),
                        func.coalesce(Instance.task_started_at, Instance.updated_at)
                        < orphaned_before,
                    ),
                ),
            )
            .order_by(Instance.id)
            .limit(self.batch_size)
        )
        async with self.ctx.db.session() as s:
            rows = (await s.execute(stmt)).all()
        scheduling: list[str] = []
        db = self.ctx.db
        for uuid, task, started in rows:
            # Each row on its own: one that fails must never stop the pass (nor the
            # next ones), or a single bad row would switch off recovery for the cloud.
            if task != TaskState.DELETING and started is not None and started < deadline:
                await isolated(db, [uuid], "timing out its task", self._time_out(uuid, str(task)))
            elif task == TaskState.SCHEDULING:
                scheduling.append(uuid)
            else:
                await isolated(db, [uuid], "resuming its task", self.actions.handle_task(uuid))
        if scheduling:
            await self.build.handle_build(scheduling)
        if self.portsync is not None:
            # Port changes owed to hosts (rules, groups, peers): sent once per pass.
            await self.portsync.run_once()
        return len(rows)

    # Re-runnable: the lease is taken only while the task is still set, which a committed
    # time-out clears.
    @retried_flow("task time-out")
    async def _time_out(self, uuid: str, task: str) -> None:
        now = utcnow()
        seconds = self.ctx.settings.build_timeout_seconds
        async with self.ctx.db.session() as s:
            me = self.ctx.conductor_id
            if not await leases.acquire(s, [uuid], task, me, now, self.ctx.lease_until(now)):
                return
            inst = (
                await s.execute(
                    select(Instance)
                    .where(Instance.uuid == uuid)
                    .execution_options(populate_existing=True)
                )
            ).scalar_one()
            if task == TaskState.SCHEDULING:
                event = EV_SCHEDULE
                message = f"Timed out after {seconds} s waiting for a host to be claimed"
            else:
                op = TASK_OPS[TaskState(task)][0]
                event = OP_EVENTS[op]
                message = f"Timed out after {seconds} s waiting for {inst.host} to {op}"
                if task == TaskState.SPAWNING:
                    # A build's volumes must not stay reserved for a server that failed.
                    await boot_volumes.release_reserved(s, inst)
            await records.fail_instance(s, inst, message, event=event, host=inst.host)
        log.warning("instance %s: %s", uuid, message)

    async def run_forever(self) -> None:
        """Run a pass every ``reconcile_interval_seconds`` until cancelled."""
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reconciler pass failed")
            await asyncio.sleep(self.ctx.settings.reconcile_interval_seconds)
