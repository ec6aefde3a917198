"""Task flows on placed instances: reboot, stop, start, rebuild, delete (and op resends).

The API writes the task (``task_state``) and sends a hint; :meth:`ActionFlow.handle_task`
re-reads the row, leases it, sends the op for its task to the host's agent and hands the
lease to the op. :meth:`ActionFlow.on_result` takes it back only for the current op.
"""

from __future__ import annotations

import logging

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.bus.base import Message
from stockyard.conductor import claims, leases, network, records
from stockyard.conductor.build import BuildFlow
from stockyard.conductor.context import ConductorContext, new_op_id
from stockyard.conductor.hoststate import HostStateCache
from stockyard.conductor.ops import op_message, topic_for
from stockyard.conductor.records import OP_EVENTS, move
from stockyard.conductor.states import PowerState, TaskState, VmState
from stockyard.db.base import utcnow
from stockyard.db.models import Instance, ServerGroupMember
from stockyard.db.retry import retried_flow

log = logging.getLogger(__name__)

T = TaskState
OPS: dict[str, tuple[str, str]] = {
    T.SPAWNING: ("spawn", "SOFT"),
    T.REBOOTING: ("reboot", "SOFT"),
    T.REBOOTING_HARD: ("reboot", "HARD"),
    T.POWERING_OFF: ("power_off", "SOFT"),
    T.POWERING_ON: ("power_on", "SOFT"),
    T.REBUILDING: ("rebuild", "SOFT"),
    T.DELETING: ("destroy", "SOFT"),
}
"""task_state -> (op sent to the agent, reboot type)."""

DONE: dict[str, tuple[VmState, PowerState]] = {
    T.REBOOTING: (VmState.ACTIVE, PowerState.RUNNING),
    T.REBOOTING_HARD: (VmState.ACTIVE, PowerState.RUNNING),
    T.POWERING_OFF: (VmState.STOPPED, PowerState.SHUTDOWN),
    T.POWERING_ON: (VmState.ACTIVE, PowerState.RUNNING),
    # Nova: a rebuild leaves the server ACTIVE, even when it was stopped.
    T.REBUILDING: (VmState.ACTIVE, PowerState.RUNNING),
}
"""task_state -> (vm_state, power_state) once its op succeeded."""

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
    await network.release_addresses(s, inst.uuid)
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

    def __init__(self, ctx: ConductorContext, hosts: HostStateCache, build: BuildFlow) -> None:
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
        message: Message | None = None
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
                    op, _ = OPS[task]
                    await self._fail(s, inst, f"Cannot {VERBS[op]} instance {uuid}: no host.")
                else:
                    message = await self._send(s, inst, task)
        if freed is not None:
            await self.hosts.refresh_hosts([freed])
        if to_build:
            await self.build.handle_build([uuid])
        elif message is not None:
            await self.ctx.bus.publish(topic_for(message["instance"]["host"]), message)

    async def _send(self, s: AsyncSession, inst: Instance, task: str) -> Message:
        op, reboot_type = OPS[task]
        op_id = new_op_id()
        inst.lease_owner = leases.op_owner(op, op_id)
        inst.lease_expires = self.ctx.op_lease_until()
        await records.start_event(s, inst.uuid, OP_EVENTS[op], host=inst.host)
        return op_message(inst, op, op_id, reboot_type)

    @retried_flow("op result")
    async def on_result(self, msg: Message) -> None:
        """Apply the result of the instance's current op; stale results are ignored.

        Re-run whole on a retryable DB error: once applied, the op's lease is gone and a
        re-run finds the result stale.
        """
        uuid, op, op_id = str(msg["instance_uuid"]), str(msg["op"]), str(msg["op_id"])
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
            if task is None or OPS.get(task, ("",))[0] != op:
                await leases.give_up(s, [uuid], me)
                return
            host = str(msg.get("host") or inst.host or "")
            event = OP_EVENTS[op]
            if msg.get("ok"):
                if op == "destroy":
                    freed = await finish_delete(s, inst)
                else:
                    vm_state, power = DONE[task]
                    move(inst, vm_state, None)
                    inst.power_state = int(msg.get("power_state") or power)
                    if op == "rebuild":
                        inst.launched_at = utcnow()
                        network.apply_driver_view(inst, msg)
                    records.clear_lease(inst)
                    inst.task_started_at = None
                    await records.finish_event(s, uuid, event, True, host=host)
                    await records.finish_action(s, uuid)
            else:
                error = str(msg.get("error") or "unknown error")
                trace = "\n".join(x for x in (error, str(msg.get("details") or "")) if x)
                await records.finish_event(s, uuid, event, False, traceback=trace, host=host)
                if op == "destroy":
                    # Deletes are retried, never failed open: our lease expires and the
                    # reconciler sends the destroy again.
                    await records.add_fault(
                        s, inst, f"Failed to delete instance on {host}: {error}; retrying", trace
                    )
                    await records.start_event(s, uuid, event, host=host)
                else:
                    await self._fail(s, inst, f"Failed to {VERBS[op]} instance: {error}", trace)
        if freed is not None:
            await self.hosts.refresh_hosts([freed])

    async def _fail(self, s: AsyncSession, inst: Instance, message: str, details: str = "") -> None:
        move(inst, VmState.ERROR, None)
        records.clear_lease(inst)
        inst.task_started_at = None
        await records.add_fault(s, inst, message, details)
        await records.finish_action(s, inst.uuid)
