"""The build flow: lease -> schedule -> claim -> address -> spawn -> ACTIVE or reschedule.

Every build this flow is handed at once (one message, or a burst of them gathered by
the scheduler role) is leased in one transaction and placed in one pass: one
transaction per placement attempt for the whole burst (:mod:`stockyard.placement.burst`).
The scheduler proposes in memory, the database claims confirm, and members of a server
group are placed under the group's compare-and-swap lock so that two placers never make
a placement that breaks the group's policy.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Sequence

from sqlalchemy import select

from stockyard.bus import contract, reqid
from stockyard.compute.drivers.base import PowerState
from stockyard.db.base import utcnow
from stockyard.db.models import Instance
from stockyard.db.retry import retried_flow
from stockyard.lifecycle import leases, records
from stockyard.lifecycle.isolation import isolated
from stockyard.lifecycle.records import EV_BUILD, EV_SCHEDULE, move
from stockyard.lifecycle.states import TaskState, VmState
from stockyard.placement import boot_volumes, burst, claims, events, ports
from stockyard.placement.context import MAX_CLAIM_TRIES, MAX_GROUP_WAITS, FlowContext
from stockyard.placement.hoststate import HostStateCache
from stockyard.placement.spec import batches, resource_class_of

__all__ = ["BuildFlow", "batches", "resource_class_of"]

log = logging.getLogger(__name__)


class BuildFlow:
    """Places and spawns instances in ``building/scheduling``; handles spawn results."""

    def __init__(self, ctx: FlowContext, hosts: HostStateCache) -> None:
        self.ctx = ctx
        self.hosts = hosts
        # Optimisation only: keeps one process from placing a row twice at once (the
        # lease already excludes other processes).
        self._busy: set[str] = set()
        # Called for rows whose task changed while we held them (a delete during
        # scheduling): their hint found them leased, so we pass them on at once.
        self.on_task_changed: Callable[[str], Awaitable[None]] | None = None
        # Set (to ``scheduler``) when placement runs in separate scheduler processes:
        # this flow then hands rows in ``scheduling`` over instead of placing them.
        self.forward_to: str | None = None

    async def handle_build(self, uuids: Sequence[str]) -> None:
        """Lease the rows still waiting for a host and place them all in one pass."""
        if self.forward_to is not None:
            await self.forward(uuids)
            return
        wanted = [u for u in dict.fromkeys(uuids) if u not in self._busy]
        # Servers whose volumes are still being made wait (unleased) for them.
        wanted = await boot_volumes.gate(self.ctx, wanted)
        if not wanted:
            return
        self._busy.update(wanted)
        try:
            rows = await self._lease(wanted)
            groups = [[r.uuid for r in batch] for batch in batches(rows)]
            await self.place_batches(groups)
        finally:
            self._busy.difference_update(wanted)

    async def forward(self, uuids: Sequence[str]) -> None:
        """Hand rows waiting for a host to the scheduler role (a hint, as from the API)."""
        if uuids and self.forward_to is not None:
            hint = contract.BuildHint(instance_uuids=list(uuids), request_id=reqid.current())
            await self.ctx.bus.publish(self.forward_to, contract.encode(hint))

    # Re-runnable: the lease is a conditional UPDATE, and the whole transaction rolled
    # back. Its multi-row UPDATE may lose a deadlock on MariaDB (found by the walk).
    @retried_flow("scheduling lease")
    async def _lease(self, uuids: list[str]) -> list[Instance]:
        now = utcnow()
        me = self.ctx.conductor_id
        async with self.ctx.db.session() as s:
            await leases.acquire(s, uuids, TaskState.SCHEDULING, me, now, self.ctx.lease_until(now))
            rows = list(
                (
                    await s.execute(
                        select(Instance)
                        .where(
                            Instance.uuid.in_(uuids),
                            Instance.lease_owner == me,
                            Instance.task_state == TaskState.SCHEDULING,
                        )
                        .order_by(Instance.launch_index, Instance.id)
                    )
                ).scalars()
            )
            await events.start_many(s, [r.uuid for r in rows], EV_SCHEDULE)
        return rows

    async def place(self, uuids: list[str]) -> None:
        """Schedule and claim ``uuids`` (leased by us, one batch), retrying lost races."""
        await self.place_batches([uuids])

    async def place_batches(self, groups: list[list[str]]) -> None:
        """Place batches (leased by us) in one pass per attempt, retrying lost races.

        Never raises but for cancellation: a defect fails its instances readably
        (:func:`isolated`), and one batch's defect never fails the others'.
        """
        pending = [list(g) for g in groups if g]
        for chunk in burst.passes(pending, burst.pass_limit(self.ctx)):
            uuids = [u for batch in chunk for u in batch]
            await isolated(self.ctx.db, uuids, "placing it", self._place(chunk))

    async def _place(self, pending: list[list[str]]) -> None:
        recheck = True
        tries = waits = 0
        while tries < MAX_CLAIM_TRIES:
            before = sum(len(b) for b in pending)
            try:
                outcome = await burst.place_pass(self.ctx, self.hosts, pending, recheck)
            except Exception:
                if len(pending) == 1:
                    raise
                # One broken batch must not keep the others unplaced: one by one.
                log.exception("placing %d batches at once failed; one by one", len(pending))
                for batch in pending:
                    await isolated(self.ctx.db, batch, "placing it", self._place([batch]))
                return
            for topic, message in outcome.ops:
                await self.ctx.bus.publish(topic, message)
            if self.on_task_changed is not None:
                for uuid in outcome.task_changed:
                    await self.on_task_changed(uuid)
            pending = [*outcome.stale, *outcome.retry]
            if not pending:
                return
            if sum(len(b) for b in pending) < before:
                # This pass placed or refused some: the contention is real but we are
                # not starved, so only passes that settle nothing use up the tries (a
                # burst on two placers loses some claims on nearly every pass).
                tries = 0
            if outcome.lock_lost and not (outcome.stale or outcome.conflict_hosts):
                if waits < MAX_GROUP_WAITS:
                    # Another placer is placing members of a group right now, for as
                    # long as its pass lasts (seconds in a burst): waiting for it is
                    # not a lost race, so it does not use up the claim tries. Each pass
                    # renews the leases, so the wait never loses them.
                    waits += 1
                    await asyncio.sleep(
                        min(1.0, 0.02 * 2 ** min(waits, 6)) * random.uniform(0.5, 1)
                    )
                    continue
            tries += 1
            if outcome.stale:
                recheck = False
                await self.hosts.refresh()
            elif tries > 1:
                # A second pass in a row that settled nothing: this view is stale beyond
                # the hosts that conflicted (another placer filled hosts it still sees
                # free), and learning one host per lost claim would spend every try on
                # hosts long full. Reload them all; the scheduler then refuses with its
                # per-filter reason or finds the room that is left.
                await self.hosts.refresh()
            else:
                await self.hosts.refresh_hosts(outcome.conflict_hosts)
            # Jittered back-off: two placers that collided must not retry in lockstep.
            await asyncio.sleep(min(0.5, 0.01 * 2**tries) * random.uniform(0.5, 1))
        await self._fail_all(
            [u for batch in pending for u in batch],
            "No valid host was found. Every host chosen was taken by concurrent builds"
            f" {MAX_CLAIM_TRIES} times in a row; retry later.",
        )

    async def _fail_all(self, uuids: list[str], message: str) -> None:
        me = self.ctx.conductor_id
        async with self.ctx.db.session() as s:
            rows = (
                await s.execute(
                    select(Instance).where(
                        Instance.uuid.in_(uuids),
                        Instance.lease_owner == me,
                        Instance.task_state == TaskState.SCHEDULING,
                    )
                )
            ).scalars()
            for inst in rows:
                await claims.release(s, inst.uuid)
                await burst.fail(s, inst, message)

    async def on_spawn_result(self, msg: contract.OpResult) -> None:
        """ACTIVE on success; on failure reschedule elsewhere, or ERROR after max attempts."""
        uuid, op_id = msg.instance_uuid, msg.op_id
        me = self.ctx.conductor_id
        now = utcnow()
        reschedule = False
        freed: int | None = None
        async with self.ctx.db.session() as s:
            if not await leases.take_from_op(s, uuid, "spawn", op_id, me, self.ctx.lease_until()):
                log.debug("stale spawn result %s for %s ignored", op_id, uuid)
                return
            inst = (await s.execute(select(Instance).where(Instance.uuid == uuid))).scalar_one()
            host = msg.host or inst.host or ""
            if inst.task_state != TaskState.SPAWNING:
                await leases.give_up(s, [uuid], me)
                return
            await boot_volumes.finish_spawn(s, inst, msg.ok)
            if msg.ok:
                move(inst, VmState.ACTIVE, None)
                inst.power_state = msg.power_state or PowerState.RUNNING
                inst.launched_at = now
                ports.apply_driver_view(inst, msg)
                await ports.announce_ports(s, inst)
                records.clear_lease(inst)
                inst.task_started_at = None
                action = await records.finish_event(s, uuid, EV_BUILD, True, host=host)
                await records.finish_action(s, uuid, action)
                return
            error = msg.error or "unknown error"
            trace = "\n".join(x for x in (error, msg.details) if x)
            await records.finish_event(s, uuid, EV_BUILD, False, traceback=trace, host=host)
            alloc = await claims.release(s, uuid)
            freed = alloc.host_id if alloc is not None else None
            tried = list(dict.fromkeys([*(inst.tried_hosts or []), host]))
            inst.tried_hosts = tried
            inst.host = inst.node = None
            # A forced host is the admin's choice: never build elsewhere (as Nova).
            if inst.attempts < self.ctx.settings.max_build_attempts and not inst.forced_host:
                move(inst, VmState.BUILDING, TaskState.SCHEDULING)
                await records.start_event(s, uuid, EV_SCHEDULE)
                reschedule = True
                if self.forward_to is not None:
                    # A scheduler process will lease the row: ours must not block it.
                    records.clear_lease(inst)
            else:
                await records.fail_instance(
                    s,
                    inst,
                    f"Build of instance {uuid} aborted: {error} (tried hosts: {', '.join(tried)})",
                    f"Tried hosts ({inst.attempts} attempts): {', '.join(tried)}\n{trace}",
                )
        if freed is not None:
            await self.hosts.refresh_hosts([freed])
        if reschedule:
            await (self.forward([uuid]) if self.forward_to is not None else self.place([uuid]))
