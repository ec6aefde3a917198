"""Host reports from agents: liveness, inventory and power-state sync.

A report is a ``host_report`` message (one host) or a ``host_reports`` batch (an
``AgentPool``'s tick, see the bus contract in ``stockyard.bus.base``). Both go through
one path: a batch is applied in ONE transaction (one SELECT of the hosts, one bulk
``last_seen`` UPDATE, inventory UPDATEs only where it changed, one SELECT of the
instances on all the batch's hosts), so a thousand hosts cost a few statements a tick.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from pydantic import ValidationError
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.bus import contract
from stockyard.bus.base import Message
from stockyard.compute.drivers.base import PowerState
from stockyard.db.base import execute_count, utcnow
from stockyard.db.models import Host, Instance
from stockyard.db.retry import retried_flow
from stockyard.lifecycle import records
from stockyard.lifecycle.states import VmState, check_transition
from stockyard.placement.context import FlowContext
from stockyard.placement.hoststate import HostStateCache

log = logging.getLogger(__name__)

VANISHED_AFTER = 2
"""Consecutive reports an ACTIVE instance must be missing from before it is ERROR."""

VANISHED = "instance vanished from host"

INVENTORY = ("vcpus", "memory_mb", "local_gb", "hypervisor_type")
"""Report keys that mirror ``Host`` columns of the same name."""


@dataclass(frozen=True, slots=True)
class HostView:
    """One host's report as the conductor applies it.

    ``taken_at`` (naive UTC) is when the agent read its driver, if it says: reports
    travel apart from op results, so an instance that changed since cannot be judged
    missing from it.
    """

    host: str
    inventory: dict[str, Any]
    power_states: dict[str, int]
    taken_at: datetime | None = None

    @classmethod
    def of(cls, report: contract.HostReport, taken_at: datetime | None = None) -> HostView:
        """``taken_at``: the batch's time, for reports that do not carry their own."""
        inventory = {k: getattr(report, k) for k in INVENTORY if getattr(report, k) is not None}
        own = _as_utc(report.taken_at)
        return cls(report.host, inventory, dict(report.power_states), own or taken_at)


Reports = contract.HostReport | contract.HostReports


def parse_reports(message: Message | Reports) -> list[HostView]:
    """The host views of a ``host_report`` or ``host_reports`` message; bad ones are
    logged and left out (one broken host must not cost the batch)."""
    if isinstance(message, dict):
        decoded = contract.decode(
            message, (contract.HostReport, contract.HostReports), "conductor.reports"
        )
        if not isinstance(decoded, contract.HostReport | contract.HostReports):
            return []
        message = decoded
    if isinstance(message, contract.HostReport):
        return [HostView.of(message)]
    taken_at = _as_utc(message.taken_at)
    out: list[HostView] = []
    for raw in message.reports:
        try:
            out.append(HostView.of(contract.HostReport.model_validate(raw), taken_at))
        except ValidationError as exc:
            log.warning("malformed host report ignored (%s): %.200r", exc, raw)
    return out


def _as_utc(stamp: object) -> datetime | None:
    if isinstance(stamp, bool) or not isinstance(stamp, int | float):
        return None
    return datetime.fromtimestamp(float(stamp), UTC).replace(tzinfo=None)


class HostSync:
    """Applies ``host_report`` and ``host_reports`` messages."""

    def __init__(self, ctx: FlowContext, hosts: HostStateCache) -> None:
        self.ctx = ctx
        self.hosts = hosts
        # host -> instance uuid -> consecutive reports missing. Per process: with several
        # conductors the count may spread over them, which only delays the verdict.
        self._misses: dict[str, dict[str, int]] = {}

    async def on_report(self, msg: Message | Reports) -> int:
        """Apply a ``host_report`` or ``host_reports`` message; returns the hosts applied."""
        return await self.apply(parse_reports(msg))

    @retried_flow("host reports")
    async def apply(self, reports: Sequence[HostView]) -> int:
        """Record the hosts as seen, update changed inventories, sync instances' power.

        One transaction for all of ``reports``; unknown hosts are ignored with a warning.
        Re-run whole on a retryable DB error, so memory (miss counts, the scheduler's
        view) changes only after the commit: a re-run must not count a miss twice.
        """
        by_host = {r.host: r for r in reports}  # a host twice in a batch: the last wins
        if not by_host:
            return 0
        async with self.ctx.db.session() as s:
            cols = [Host.id, Host.name, Host.kind, *(getattr(Host, k) for k in INVENTORY)]
            rows = (await s.execute(select(*cols).where(Host.name.in_(list(by_host))))).all()
            known: dict[str, int] = {}
            baremetal: set[str] = set()
            for row in rows:
                known[row.name] = int(row.id)
                if row.kind == "baremetal":
                    baremetal.add(row.name)
                inventory = by_host[row.name].inventory
                changed = {k: v for k, v in inventory.items() if getattr(row, k) != v}
                if changed:
                    stmt = update(Host).where(Host.id == row.id).values(**changed)
                    await s.execute(stmt.execution_options(synchronize_session=False))
            unknown = sorted(set(by_host) - set(known))
            if unknown:
                log.warning(
                    "host reports from %d unknown host(s) ignored: %s",
                    len(unknown), ", ".join(unknown[:10]),
                )  # fmt: skip
            if not known:
                return 0
            stmt = update(Host).where(Host.id.in_(list(known.values()))).values(last_seen=utcnow())
            await s.execute(stmt.execution_options(synchronize_session=False))
            misses, stopping = await self._sync_power(
                s, [by_host[name] for name in known], baremetal
            )
        # Committed: now memory may follow, and the stops may be acted on (a lost hint is
        # the reconciler's: the task is in the row).
        self._misses.update(misses)
        for uuid, rid in stopping:
            hint = contract.TaskHint(instance_uuid=uuid, request_id=rid)
            await self.ctx.bus.publish(contract.CONDUCTOR, hint.model_dump())
        missing = self._update_index(by_host[name] for name in known)
        # Hosts enrolled since our last refresh: load them now, not at the next one.
        await self.hosts.refresh_hosts([known[name] for name in missing])
        return len(known)

    def _update_index(self, reports: Iterable[HostView]) -> list[str]:
        """Mark the hosts up with their reported inventory; returns the hosts the
        scheduler's index does not have yet."""
        index = self.ctx.scheduler.index
        missing: list[str] = []
        for report in reports:
            state = index.by_name(report.host)
            if state is None:
                missing.append(report.host)
                continue
            state.up = True
            inv = report.inventory
            state.vcpus = int(inv.get("vcpus", state.vcpus))
            state.memory_mb = int(inv.get("memory_mb", state.memory_mb))
            state.disk_gb = int(inv.get("local_gb", state.disk_gb))
        return missing

    async def _sync_power(
        self, s: AsyncSession, reports: Sequence[HostView], baremetal: set[str]
    ) -> tuple[dict[str, dict[str, int]], list[tuple[str, str]]]:
        """Apply reported power states; returns each host's new miss counts and the
        servers given a stop task, with its request id (both for after the commit).

        As Nova's power sync: a guest that stopped by itself makes its server STOPPED.
        A STOPPED server's guest found running is stopped again (``force_stop``): the
        server's state is what its user asked for. A machine on a ``baremetal`` host is
        the exception, as with Ironic's power-update events to Nova: whoever switched
        it on at its BMC (an operator, hwmgr's own power sync) is followed, ACTIVE.
        """
        by_host = {r.host: r for r in reports}
        rows = (
            await s.execute(
                select(
                    Instance.uuid,
                    Instance.host,
                    Instance.vm_state,
                    Instance.power_state,
                    Instance.updated_at,
                ).where(
                    Instance.host.in_(list(by_host)),
                    Instance.deleted.is_(False),
                    # An instance with a task in flight is the task's business.
                    Instance.task_state.is_(None),
                    Instance.vm_state.in_([VmState.ACTIVE, VmState.STOPPED]),
                )
            )
        ).all()
        misses: dict[str, dict[str, int]] = {host: {} for host in by_host}
        stopping: list[tuple[str, str]] = []
        for uuid, host_or_none, vm_state, power, updated_at in rows:
            host = str(host_or_none)  # not None: the query matched it
            report = by_host[host]
            ps = report.power_states.get(uuid)
            if report.taken_at is not None and updated_at >= report.taken_at:
                # Changed after the agent looked (a stop, start or spawn result overtook
                # this report on the other topic): the report cannot tell, and misses
                # from before the change no longer count either.
                continue
            if ps is None:
                if vm_state != VmState.ACTIVE:
                    continue
                count = self._misses.get(host, {}).get(uuid, 0) + 1
                if count < VANISHED_AFTER:
                    misses[host][uuid] = count
                elif not await self._set(s, uuid, vm_state, VmState.ERROR, PowerState.NOSTATE):
                    misses[host][uuid] = count  # a task got it first; judged again later
                else:
                    inst = (
                        await s.execute(select(Instance).where(Instance.uuid == uuid))
                    ).scalar_one()
                    await records.add_fault(s, inst, VANISHED, f"host {host}")
            elif vm_state == VmState.ACTIVE and ps == PowerState.SHUTDOWN:
                await self._set(s, uuid, vm_state, VmState.STOPPED, ps)
            elif vm_state == VmState.STOPPED and ps == PowerState.RUNNING and host in baremetal:
                await self._set(s, uuid, vm_state, VmState.ACTIVE, ps)
            elif vm_state == VmState.STOPPED and ps == PowerState.RUNNING:
                rid = await self._force_stop(s, uuid, host)
                if rid is not None:
                    stopping.append((uuid, rid))
            elif ps != power:
                await self._set(s, uuid, vm_state, VmState(vm_state), ps)
        return misses, stopping

    @staticmethod
    async def _force_stop(s: AsyncSession, uuid: str, host: str) -> str | None:
        """Give a STOPPED server found running a stop task; returns the stop's request id,
        or None if a task got the server first."""
        inst = (
            await s.execute(
                select(Instance)
                .where(Instance.uuid == uuid)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        ).scalar_one()
        if inst.vm_state != VmState.STOPPED or inst.task_state is not None:
            return None
        rid = f"req-{uuid4()}"
        log.warning("instance %s is running on %s while stopped; stopping it [%s]", uuid, host, rid)
        # No user asked for it: Nova records its power sync's stop with no user either.
        action = records.begin_action(
            inst, "force_stop", request_id=rid, user_id=None, project_id=None
        )
        if action is not None:
            s.add(action)
        inst.power_state = int(PowerState.RUNNING)
        return rid

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
