"""The conductor's interface flow: plug and unplug ports on the server's host.

The API leaves a port ``attaching`` (bound to the server, ``DOWN``) or ``detaching`` and
hints the conductor with the instance. :meth:`InterfaceFlow.drive` leases the port to an
``attach_interface``/``detach_interface`` op (``op:<op>:<op_id>`` in
``iface_lease_owner``, as instance leases) and sends it to the host's agent;
:meth:`InterfaceFlow.on_result` applies only the current op's result. Nothing stays
half done:

- attach succeeded: the port ``ACTIVE``; failed or lost (the op's lease expired): the
  interface is removed again (a port the attach made is deleted, the user's unbound),
  the ``compute_attach_interface`` event failed with the reason;
- detach succeeded: the interface removed; failed or lost: attached again, the reason in
  the failed ``compute_detach_interface`` event.

A lost op is not resent: the user sees the failure and may try again.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.bus import contract
from stockyard.conductor.volumes import instance_volumes
from stockyard.db.base import execute_count, utcnow
from stockyard.db.models import Instance, Port
from stockyard.lifecycle import records
from stockyard.lifecycle.leases import op_owner
from stockyard.lifecycle.messages import op_request
from stockyard.network import interfaces as iface
from stockyard.placement.context import FlowContext, new_op_id

log = logging.getLogger(__name__)

EVENTS = {
    "attach_interface": "compute_attach_interface",
    "detach_interface": "compute_detach_interface",
}


class InterfaceFlow:
    def __init__(self, ctx: FlowContext) -> None:
        self.ctx = ctx

    def _lease_seconds(self) -> float:
        return float(self.ctx.op_lease_seconds or self.ctx.settings.lease_seconds)

    async def handle_instance(self, uuid: str) -> None:
        """Drive every port of ``uuid`` whose attach or detach waits for its op."""
        async with self.ctx.db.session() as s:
            ids = list(
                await s.scalars(
                    select(Port.id).where(
                        Port.device_id == uuid,
                        Port.iface_op.in_(list(iface.OPS)),
                        Port.iface_lease_owner.is_(None),
                    )
                )
            )
        for port_id in ids:
            await self.drive(port_id)

    async def drive(self, port_id: str) -> None:
        envelope: tuple[str, dict[str, Any]] | None = None
        async with self.ctx.db.session() as s:
            port = await s.get(Port, port_id)
            if port is None or port.iface_op not in iface.OPS or port.iface_lease_owner:
                return
            op = iface.OPS[port.iface_op]
            op_id = new_op_id()
            owner = op_owner(op, op_id)
            taken = await execute_count(
                s,
                update(Port)
                .where(
                    Port.id == port_id,
                    Port.iface_op == port.iface_op,
                    Port.iface_lease_owner.is_(None),
                )
                .values(
                    iface_lease_owner=owner,
                    iface_lease_expires=utcnow() + timedelta(seconds=self._lease_seconds()),
                )
                .execution_options(synchronize_session=False),
            )
            if taken != 1:
                return
            await s.refresh(port)
            inst = await _instance(s, port.device_id, lock=False)
            if inst is None or not inst.host:
                await self._end(s, port, inst, op, False, "The server has no host.")
                return
            await records.start_event(s, inst.uuid, EVENTS[op], host=inst.host)
            request = op_request(inst, op, op_id)  # type: ignore[arg-type]
            request.port_id = port.id
            if op == "attach_interface":
                request.port = next((p for p in request.instance.ports if p.id == port.id), None)
            # The guest keeps its volumes in whatever the driver redefines.
            request.instance.volumes = await instance_volumes(s, inst.uuid)
            envelope = (contract.compute_topic(inst.host), contract.encode(request))
        if envelope is not None:
            await self.ctx.bus.publish(*envelope)

    async def on_result(self, msg: contract.OpResult) -> None:
        """Apply the result of a port's current op; stale ones are ignored."""
        async with self.ctx.db.session() as s:
            port = await s.scalar(
                select(Port).where(Port.iface_lease_owner == op_owner(msg.op, msg.op_id))
            )
            if port is None:
                log.debug("stale %s result %s ignored", msg.op, msg.op_id)
                return
            inst = await _instance(s, port.device_id)
            port = await _reread(s, port.id)
            if port is None or port.iface_lease_owner != op_owner(msg.op, msg.op_id):
                return  # ended meanwhile (the reconciler, a server delete)
            error = msg.error or "unknown error"
            reason = None if msg.ok else "\n".join(x for x in (error, msg.details) if x)
            await self._end(s, port, inst, msg.op, msg.ok, reason, host=msg.host)

    async def _end(
        self,
        s: AsyncSession,
        port: Port,
        inst: Instance | None,
        op: str,
        ok: bool,
        reason: str | None,
        *,
        host: str | None = None,
    ) -> None:
        attach = op == "attach_interface"
        if inst is None:
            iface.unbind(port)  # the server is gone; its release runs on its own
            return
        if attach and ok:
            await iface.attached(s, port)
        elif attach or ok:
            await iface.remove(s, inst, port)  # a failed attach, a done detach
        else:
            port.iface_op = None
            port.iface_lease_owner = None
            port.iface_lease_expires = None
        uuid = inst.uuid
        if ok:
            await records.finish_event(s, uuid, EVENTS[op], True, host=host)
        else:
            verb = "attach" if attach else "detach"
            message = f"Failed to {verb} interface {port.id}: {reason}"
            await records.finish_event(s, uuid, EVENTS[op], False, traceback=message, host=host)
            log.warning("instance %s: %s", uuid, message)
        await records.finish_action(s, uuid)

    async def reconcile_once(self) -> int:
        """End ops whose lease expired (a lost op or result) and drive hints lost."""
        now = utcnow()
        grace = now - timedelta(seconds=max(1.0, self.ctx.settings.reconcile_interval_seconds))
        async with self.ctx.db.session() as s:
            rows = list(
                await s.execute(
                    select(Port.id, Port.iface_lease_owner).where(
                        Port.iface_op.in_(list(iface.OPS)),
                        or_(
                            Port.iface_lease_expires < now,
                            and_(Port.iface_lease_owner.is_(None), Port.updated_at < grace),
                        ),
                    )
                )
            )
        for port_id, owner in rows:
            if owner is None:
                await self.drive(port_id)
                continue
            async with self.ctx.db.session() as s:
                port = await s.get(Port, port_id)
                if port is None or port.iface_lease_owner != owner or port.iface_op is None:
                    continue
                inst = await _instance(s, port.device_id)
                port = await _reread(s, port_id)
                if port is None or port.iface_lease_owner != owner or port.iface_op is None:
                    continue  # its result came in meanwhile, or a server delete took it
                op = iface.OPS[port.iface_op]
                verb = "plug" if op == "attach_interface" else "unplug"
                await self._end(
                    s,
                    port,
                    inst,
                    op,
                    False,
                    f"The compute host did not {verb} the port in time (no answer from its agent).",
                )
        return len(rows)


async def _instance(s: AsyncSession, uuid: str, *, lock: bool = True) -> Instance | None:
    """The port's server; ``lock``: its row locked before any write, as the API locks a
    server before its ports, so the two never wait for each other crosswise."""
    if not uuid:
        return None
    stmt = select(Instance).where(Instance.uuid == uuid, Instance.deleted.is_(False))
    return await s.scalar(stmt.with_for_update() if lock else stmt)


async def _reread(s: AsyncSession, port_id: str) -> Port | None:
    """The port as it is now, read after its server's lock was taken: a delete of the
    server may have removed it while the lock was awaited (then None)."""
    return await s.scalar(
        select(Port).where(Port.id == port_id).execution_options(populate_existing=True)
    )
