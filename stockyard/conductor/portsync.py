"""Sends ``update_ports`` to the hosts of servers whose ports changed, and applies the
answers: the port is ACTIVE when its host applied it, DOWN (with the reason recorded
as a fault of the server, and logged) when it could not.

The debt is in the database (``Instance.ports_rev`` > ``ports_synced_rev``, bumped by
``stockyard.network.port_sync`` in the change's transaction), so a lost message or a
crashed conductor only delays the op: every reconciler pass sends what is owed for
servers that run no task (a task's own op carries the newest ports anyway). The op id
carries the revision it applies, so a late answer to an older op never marks a newer
change as applied.

Baremetal nodes get no ``update_ports``: their driver has no datapath for a port's
rules (security groups on a whole machine belong to its switch, as in Ironic without an
ML2 switch driver), so the pass records their debt as applied instead of sending an op
per peer each time a group's membership changes.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import flag_modified

from stockyard.bus import contract
from stockyard.db.base import execute_count, utcnow
from stockyard.db.models import Host, Instance, Port
from stockyard.db.retry import retried_flow, run_in_transaction
from stockyard.lifecycle import records
from stockyard.lifecycle.isolation import isolated
from stockyard.lifecycle.messages import op_envelope
from stockyard.lifecycle.states import VmState
from stockyard.network import port_sync, server_ports
from stockyard.placement.context import FlowContext, new_op_id

log = logging.getLogger(__name__)


class PortSync:
    """One pass: refresh and send; one result: record it."""

    def __init__(self, ctx: FlowContext, batch_size: int = 200) -> None:
        self.ctx = ctx
        self.batch_size = batch_size

    async def tell_peers(self) -> int:
        """Bump the peers of the queued group membership changes (a server deleted, an
        interface attached or detached) and of servers that went ACTIVE since the last
        pass; returns how many servers were announced.

        All of a pass's announcements share one transaction and one UPDATE (a burst
        would otherwise bump every peer once per server). If that fails, each server is
        told in a transaction of its own, so one bad row holds back only itself.
        """
        try:
            # A deadlock with a bind or a result (MariaDB) is re-run at once, not left
            # to the next pass with an error in the log.
            await run_in_transaction(self.ctx.db, port_sync.tell_queued_peers)
        except asyncio.CancelledError:
            raise
        except Exception:
            # The queue stays: the next pass drains it.
            log.exception("telling the peers of queued membership changes failed")
        async with self.ctx.db.session() as s:
            uuids = list(
                await s.scalars(
                    select(Instance.uuid)
                    .where(Instance.ports_announce.is_(True), Instance.deleted.is_(False))
                    .order_by(Instance.id)
                    .limit(self.batch_size)
                )
            )
        if not uuids:
            return 0
        try:
            await self._tell(uuids)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("telling the peers of %d servers at once failed; one by one", len(uuids))
            for uuid in uuids:
                await isolated(
                    self.ctx.db, [uuid], "telling its peers of its ports", self._tell([uuid])
                )
        return len(uuids)

    async def _tell(self, uuids: list[str]) -> None:
        async with self.ctx.db.session() as s:
            await server_ports.tell_peers(s, uuids)

    # Re-runnable: the claim is conditional and the ops go out only after its commit. A
    # pass's multi-row UPDATE may lose a deadlock on MariaDB (found by the random walk).
    @retried_flow("port sync")
    async def run_once(self) -> int:
        """Send ``update_ports`` for every server owing one; returns how many were sent.

        The pass claims what it sends (``ports_sent_rev``/``_at``) in the transaction
        that reads it: another conductor's pass, or the next one, sends again only a
        newer revision, or one unanswered for an op lease (a lost op: a dropped message,
        a dead agent; an agent applies one in milliseconds), as the task ops are resent."""
        await self.tell_peers()
        now = utcnow()
        resend_before = now - self.ctx.op_lease()
        sendable = and_(
            Instance.ports_rev > Instance.ports_synced_rev,
            Instance.deleted.is_(False),
            Instance.task_state.is_(None),
            Instance.host.is_not(None),
            Instance.vm_state.in_([VmState.ACTIVE.value, VmState.STOPPED.value]),
            or_(
                Instance.ports_sent_rev < Instance.ports_rev,
                Instance.ports_sent_at.is_(None),
                Instance.ports_sent_at < resend_before,
            ),
        )
        envelopes = []
        async with self.ctx.db.session() as s:
            # Never-sent first, then the longest waiting: a burst that keeps bumping the
            # first servers' revisions does not starve the later ones.
            uuids = list(
                await s.scalars(
                    select(Instance.uuid)
                    .where(sendable)
                    .order_by(
                        Instance.ports_sent_at.is_not(None), Instance.ports_sent_at, Instance.id
                    )
                    .limit(self.batch_size)
                )
            )
            if not uuids:
                return 0
            # Of two passes racing, the second's UPDATE waits on the row locks and then
            # finds the rows no longer sendable; ``now`` marks the rows this one took.
            await s.execute(
                update(Instance)
                .where(Instance.uuid.in_(uuids), sendable)
                .values(
                    ports_sent_rev=Instance.ports_rev,
                    ports_sent_at=now,
                    updated_at=Instance.updated_at,  # bookkeeping (see port_sync._bump)
                )
                .execution_options(synchronize_session=False)
            )
            owing = list(
                await s.scalars(
                    select(Instance)
                    .where(Instance.uuid.in_(uuids), Instance.ports_sent_at == now)
                    .order_by(Instance.id)
                )
            )
            # Bookkeeping, not a change of the server (see port_sync._bump): no flush
            # until each changed row carries its own ``updated_at``, which the flush then
            # keeps instead of stamping; an unchanged row gets no UPDATE at all.
            with s.no_autoflush:
                settled = await self._settle_baremetal(s, owing)
                await server_ports.refresh_many(s, settled)
            for inst in owing:
                if s.is_modified(inst):
                    flag_modified(inst, "updated_at")
            owing = settled
            for inst in owing:
                envelopes.append(
                    op_envelope(inst, "update_ports", f"{inst.ports_rev}-{new_op_id()}")
                )
        for topic, message in envelopes:
            await self.ctx.bus.publish(topic, message)
        return len(envelopes)

    @staticmethod
    async def _settle_baremetal(s: AsyncSession, owing: list[Instance]) -> list[Instance]:
        """Record the debt of servers on baremetal nodes as applied; returns the rest."""
        hosts = {str(i.host) for i in owing}
        if not hosts:
            return owing
        baremetal = set(
            await s.scalars(select(Host.name).where(Host.name.in_(hosts), Host.kind == "baremetal"))
        )
        if not baremetal:
            return owing
        settled = [i for i in owing if i.host in baremetal]
        for inst in settled:
            inst.ports_synced_rev = inst.ports_rev
        for ports in (await server_ports.instances_ports(s, settled)).values():
            _set_status(ports, ok=True)
        return [i for i in owing if i.host not in baremetal]

    async def on_result(self, msg: contract.OpResult) -> None:
        """The host applied (or failed to apply) the ports at the op's revision."""
        try:
            rev = int(msg.op_id.split("-", 1)[0])
        except ValueError:
            log.warning("update_ports result %s without a revision ignored", msg.op_id)
            return
        async with self.ctx.db.session() as s:
            # A conditional UPDATE, not a read of the whole row: a burst answers hundreds.
            newer = (
                update(Instance)
                .where(
                    Instance.uuid == msg.instance_uuid,
                    Instance.deleted.is_(False),
                    Instance.ports_synced_rev < rev,
                )
                .values(ports_synced_rev=rev, updated_at=Instance.updated_at)
                .execution_options(synchronize_session=False)
            )
            if not await execute_count(s, newer):
                return  # gone, or stale: a newer revision was answered already
            ports = list(await s.scalars(select(Port).where(Port.device_id == msg.instance_uuid)))
            _set_status(ports, msg.ok)
            if not msg.ok:
                inst = await s.scalar(select(Instance).where(Instance.uuid == msg.instance_uuid))
                # The reason, kept with the server (its faults) and logged.
                reason = f"Ports of {msg.instance_uuid} could not be applied on "
                reason += f"{msg.host or (inst.host if inst else '')}: "
                reason += msg.error or "unknown error"
                if inst is not None:
                    await records.add_fault(s, inst, reason, msg.details or "")
                log.warning("%s", reason)


def _set_status(ports: list[Port], ok: bool) -> None:
    """A port its host applied is ACTIVE (DOWN when its admin state is down)."""
    for port in ports:
        if port.iface_op is not None:
            continue  # its attach or detach op says when it is up
        status = "ACTIVE" if ok and port.admin_state_up else "DOWN"
        if port.status != status:
            port.status = status
