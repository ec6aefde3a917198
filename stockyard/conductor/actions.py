"""Task flows on placed instances: reboot, stop, start, rebuild, delete (and op resends).

The API writes the task (``task_state``) and sends a hint; :meth:`ActionFlow.handle_task`
re-reads the row, leases it, sends the op for its task to the host's agent and hands the
lease to the op. :meth:`ActionFlow.on_result` takes it back only for the current op.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.bus import contract
from stockyard.compute.drivers.base import PowerState
from stockyard.conductor import volumes as volume_flow
from stockyard.db.base import utcnow
from stockyard.db.models import Instance, ServerGroupMember
from stockyard.db.retry import retried_flow
from stockyard.lifecycle import leases, records
from stockyard.lifecycle.messages import op_envelope
from stockyard.lifecycle.records import OP_EVENTS, move
from stockyard.lifecycle.states import TaskState, VmState, outcome
from stockyard.placement import boot_volumes, claims, ports
from stockyard.placement.build import BuildFlow
from stockyard.placement.context import FlowContext, new_op_id
from stockyard.placement.hoststate import HostStateCache

log = logging.getLogger(__name__)

_POWER_AFTER = {VmState.ACTIVE: PowerState.RUNNING, VmState.STOPPED: PowerState.SHUTDOWN}
"""The power state to record when an agent's result did not say."""

T = TaskState
TASK_OPS: dict[TaskState, tuple[contract.Op, str]] = {
    T.SPAWNING: ("spawn", "SOFT"),
    T.REBOOTING: ("reboot", "SOFT"),
    T.REBOOTING_HARD: ("reboot", "HARD"),
    T.POWERING_OFF: ("power_off", "SOFT"),
    T.POWERING_ON: ("power_on", "SOFT"),
    T.REBUILDING: ("rebuild", "SOFT"),
    T.DELETING: ("destroy", "SOFT"),
}
"""task_state -> (op sent to the agent, reboot type)."""

VERBS = {
    "spawn": "build",
    "reboot": "reboot",
    "power_off": "stop",
    "power_on": "start",
    "rebuild": "rebuild",
    "destroy": "delete",
}


async def _load(s: AsyncSession, uuid: str) -> Instance | None:
    stmt = select(Instance).where(Instance.uuid == uuid).execution_options(populate_existing=True)
    return (await s.execute(stmt)).scalar_one_or_none()


async def finish_delete(s: AsyncSession, inst: Instance) -> int | None:
    """Free everything the instance holds and mark it deleted; returns the freed host id."""
    alloc = await claims.release(s, inst.uuid)
    await ports.release_ports(s, inst)
    # Its volumes go back to available; delete_on_termination ones to deleting (the
    # volume role's reconciler deletes them).
    await volume_flow.release_for_delete(s, inst.uuid)
    await boot_volumes.unattached_to_delete(s, inst)
    await s.execute(
        delete(ServerGroupMember)
        .where(ServerGroupMember.instance_uuid == inst.uuid)
        .execution_options(synchronize_session=False)
    )
    now = utcnow()
    move(inst, VmState.DELETED, None)
    inst.deleted = True
    inst.deleted_at = now
    inst.terminated_at = now
    inst.power_state = PowerState.NOSTATE
    inst.task_started_at = None
    records.clear_lease(inst)
    await records.finish_event(s, inst.uuid, OP_EVENTS["destroy"], True, host=inst.host)
    await records.finish_action(s, inst.uuid)
    return alloc.host_id if alloc is not None else None


class ActionFlow:
    """Drives every task other than scheduling (which belongs to :class:`BuildFlow`)."""

    def __init__(self, ctx: FlowContext, hosts: HostStateCache, build: BuildFlow) -> None:
        self.ctx = ctx
        self.hosts = hosts
        self.build = build
        build.on_task_changed = self.handle_task

    @retried_flow("task")
    async def handle_task(self, uuid: str) -> None:
        """Act on the row's current task: lease it and send its op (or finish at once).

        Also how the reconciler resumes a task whose lease expired: the op is sent again
        with a new op id (agents' ops are idempotent). Re-run whole on a retryable DB
        error: once the op's lease is committed a re-run cannot lease the row again, so
        an op is never sent twice (if its publish failed, the reconciler resends it).
        """
        me = self.ctx.conductor_id
        now = utcnow()
        envelope: tuple[str, dict[str, Any]] | None = None
        freed: int | None = None
        to_build = False
        async with self.ctx.db.session() as s:
            task = (
                await s.execute(
                    select(Instance.task_state).where(
                        Instance.uuid == uuid, Instance.deleted.is_(False)
                    )
                )
            ).scalar_one_or_none()
            if task is None:
                return
            if task == TaskState.SCHEDULING:
                to_build = True
            else:
                until = self.ctx.lease_until(now)
                if not await leases.acquire(s, [uuid], task, me, now, until):
                    return
                inst = await _load(s, uuid)
                assert inst is not None
                if task == TaskState.DELETING and not inst.host:
                    freed = await finish_delete(s, inst)
                elif not inst.host:
                    # The API refuses host-bound actions on unplaced servers; a row
                    # written before that rule (or by hand) still ends readably.
                    op, _ = TASK_OPS[TaskState(task)]
                    await records.fail_instance(
                        s, inst, f"Cannot {VERBS[op]} instance {uuid}: it has no host."
                    )
                else:
                    envelope = await self._send(s, inst, TaskState(task))
        if freed is not None:
            await self.hosts.refresh_hosts([freed])
        if to_build:
            await self.build.handle_build([uuid])
        elif envelope is not None:
            await self.ctx.bus.publish(*envelope)

    async def _send(
        self, s: AsyncSession, inst: Instance, task: TaskState
    ) -> tuple[str, dict[str, Any]]:
        op, reboot_type = TASK_OPS[task]
        op_id = new_op_id()
        inst.lease_owner = leases.op_owner(op, op_id)
        inst.lease_expires = self.ctx.op_lease_until()
        await records.start_event(s, inst.uuid, OP_EVENTS[op], host=inst.host)
        topic, message = op_envelope(inst, op, op_id, reboot_type)
        # A rebuild or hard reboot redefines the guest: it keeps its attached volumes.
        volumes = await volume_flow.instance_volumes(s, inst.uuid)
        if volumes:
            message["instance"]["volumes"] = [v.model_dump() for v in volumes]  # type: ignore[index]
        return topic, message

    @retried_flow("op result")
    async def on_result(self, msg: contract.OpResult) -> None:
        """Apply the result of the instance's current op; stale results are ignored.

        Re-run whole on a retryable DB error: once applied, the op's lease is gone and a
        re-run finds the result stale.
        """
        uuid, op, op_id = msg.instance_uuid, msg.op, msg.op_id
        me = self.ctx.conductor_id
        freed: int | None = None
        async with self.ctx.db.session() as s:
            until = self.ctx.lease_until()
            if not await leases.take_from_op(s, uuid, op, op_id, me, until):
                log.debug("stale %s result %s for %s ignored", op, op_id, uuid)
                return
            inst = await _load(s, uuid)
            assert inst is not None
            task = inst.task_state
            if task is None or TASK_OPS[TaskState(task)][0] != op:
                await leases.give_up(s, [uuid], me)
                return
            host = msg.host or inst.host or ""
            event = OP_EVENTS[op]
            if msg.ok:
                if op == "destroy":
                    freed = await finish_delete(s, inst)
                else:
                    vm_state = outcome(inst.vm_state, task)
                    move(inst, vm_state, None)
                    inst.power_state = msg.power_state or _POWER_AFTER[vm_state]
                    if op == "rebuild":
                        inst.launched_at = utcnow()
                        ports.apply_driver_view(inst, msg)
                    records.clear_lease(inst)
                    inst.task_started_at = None
                    await records.finish_event(s, uuid, event, True, host=host)
                    await records.finish_action(s, uuid)
            else:
                error = msg.error or "unknown error"
                trace = "\n".join(x for x in (error, msg.details) if x)
                await records.finish_event(s, uuid, event, False, traceback=trace, host=host)
                if op == "destroy":
                    # Deletes are retried, never failed open: our lease expires and the
                    # reconciler sends the destroy again.
                    await records.add_fault(
                        s, inst, f"Failed to delete instance on {host}: {error}; retrying", trace
                    )
                    await records.start_event(s, uuid, event, host=host)
                else:
                    await records.fail_instance(
                        s, inst, f"Failed to {VERBS[op]} instance: {error}", trace
                    )
        if freed is not None:
            await self.hosts.refresh_hosts([freed])
