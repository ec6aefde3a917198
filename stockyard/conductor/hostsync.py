"""Host reports from agents: liveness, inventory and power-state sync."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.bus.base import Message
from stockyard.conductor import records
from stockyard.conductor.context import ConductorContext, execute_count
from stockyard.conductor.hoststate import HostStateCache
from stockyard.conductor.states import PowerState, VmState, check_transition
from stockyard.db.base import utcnow
from stockyard.db.models import Host, Instance
from stockyard.db.retry import retried_flow

log = logging.getLogger(__name__)

VANISHED_AFTER = 2
"""Consecutive reports an ACTIVE instance must be missing from before it is ERROR."""

VANISHED = "instance vanished from host"


class HostSync:
    """Applies ``host_report`` messages."""

    def __init__(self, ctx: ConductorContext, hosts: HostStateCache) -> None:
        self.ctx = ctx
        self.hosts = hosts
        # host -> instance uuid -> consecutive reports missing. Per process: with several
        # conductors the count may spread over them, which only delays the verdict.
        self._misses: dict[str, dict[str, int]] = {}

    @retried_flow("host report")
    async def on_report(self, msg: Message) -> None:
        """Record the host as seen, update its inventory and sync instances' power.

        Re-run whole on a retryable DB error, so memory (miss counts, the scheduler's
        view) changes only after the commit: a re-run must not count a miss twice.
        """
        name = str(msg["host"])
        reported = {str(k): int(v) for k, v in (msg.get("power_states") or {}).items()}
        values: dict[str, Any] = {"last_seen": utcnow()}
        for key in ("vcpus", "memory_mb", "local_gb", "hypervisor_type"):
            if msg.get(key) is not None:
                values[key] = msg[key]
        async with self.ctx.db.session() as s:
            stmt = update(Host).where(Host.name == name).values(**values)
            if not await execute_count(s, stmt.execution_options(synchronize_session=False)):
                log.warning("host_report from unknown host %s ignored", name)
                return
            host_id = int((await s.execute(select(Host.id).where(Host.name == name))).scalar_one())
            misses = await self._sync_power(s, name, reported)
        self._misses[name] = misses
        state = self.ctx.scheduler.index.by_name(name)
        if state is None:
            # A host enrolled since our last refresh: load it now, not at the next one.
            await self.hosts.refresh_hosts([host_id])
        else:
            state.up = True
            state.vcpus = int(values.get("vcpus", state.vcpus))
            state.memory_mb = int(values.get("memory_mb", state.memory_mb))
            state.disk_gb = int(values.get("local_gb", state.disk_gb))

    async def _sync_power(
        self, s: AsyncSession, host: str, reported: dict[str, int]
    ) -> dict[str, int]:
        """Apply reported power states; returns the host's new miss counts (for after the
        commit)."""
        rows = (
            await s.execute(
                select(Instance.uuid, Instance.vm_state, Instance.power_state).where(
                    Instance.host == host,
                    Instance.deleted.is_(False),
                    # An instance with a task in flight is the task's business.
                    Instance.task_state.is_(None),
                    Instance.vm_state.in_([VmState.ACTIVE, VmState.STOPPED]),
                )
            )
        ).all()
        old_misses = self._misses.get(host, {})
        misses: dict[str, int] = {}
        for uuid, vm_state, power in rows:
            ps = reported.get(uuid)
            if ps is None:
                if vm_state != VmState.ACTIVE:
                    continue
                misses[uuid] = old_misses.get(uuid, 0) + 1
                if misses[uuid] >= VANISHED_AFTER:
                    if await self._set(s, uuid, vm_state, VmState.ERROR, PowerState.NOSTATE):
                        inst = (
                            await s.execute(select(Instance).where(Instance.uuid == uuid))
                        ).scalar_one()
                        await records.add_fault(s, inst, VANISHED, f"host {host}")
                        misses.pop(uuid, None)
            elif vm_state == VmState.ACTIVE and ps == PowerState.SHUTDOWN:
                await self._set(s, uuid, vm_state, VmState.STOPPED, ps)
            elif vm_state == VmState.STOPPED and ps == PowerState.RUNNING:
                await self._set(s, uuid, vm_state, VmState.ACTIVE, ps)
            elif ps != power:
                await self._set(s, uuid, vm_state, VmState(vm_state), ps)
        return misses

    @staticmethod
    async def _set(s: AsyncSession, uuid: str, old: str, new: VmState, power: int) -> bool:
        if new != old:
            check_transition(old, None, new, None)
        # Conditional: the API may have written a task since we read the row.
        stmt = (
            update(Instance)
            .where(Instance.uuid == uuid, Instance.vm_state == old, Instance.task_state.is_(None))
            .values(vm_state=new.value, power_state=int(power))
            .execution_options(synchronize_session=False)
        )
        return await execute_count(s, stmt) == 1
