"""The conductor's volume flow: attach and detach on the server's host.

The API leaves an attachment ``attaching`` (connection made) or ``detaching`` and hints
the conductor with the instance. :meth:`VolumeFlow.drive` leases the attachment to an
``attach_volume``/``detach_volume`` op (``op:<op>:<op_id>`` in its ``lease_owner``, as
instance leases) and sends it to the host's agent; :meth:`VolumeFlow.on_result` applies
only the current op's result. Nothing stays in an -ing status:

- attach succeeded: ``attached``/``in-use``; failed or lost (the op's lease expired):
  the attachment is removed, the volume ``available`` again, the instance action's
  ``compute_attach_volume`` event failed with the reason;
- detach succeeded: the attachment removed, the volume ``available``; failed (the guest
  never released the device) or lost: back to ``attached``/``in-use`` with the reason
  in the failed ``compute_detach_volume`` event and in ``status_reason``.

A lost op is not resent: the user sees the failure and may try again.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.bus import contract
from stockyard.db.base import execute_count, utcnow
from stockyard.db.models import Instance, Volume, VolumeAttachment
from stockyard.lifecycle import records
from stockyard.lifecycle.leases import op_owner
from stockyard.lifecycle.messages import op_request
from stockyard.placement.context import FlowContext, new_op_id
from stockyard.volume import attachments as flow

log = logging.getLogger(__name__)

EVENTS = {"attach_volume": "compute_attach_volume", "detach_volume": "compute_detach_volume"}
_OPS = {"attaching": "attach_volume", "detaching": "detach_volume"}


def attachment_spec(att: VolumeAttachment) -> contract.VolumeAttachmentSpec:
    return contract.VolumeAttachmentSpec(
        volume_id=att.volume_id,
        attachment_id=att.id,
        device=att.mountpoint or "",
        connection_info=dict(att.connection_info or {}),
        read_only=att.attach_mode == "ro",
        boot_index=att.boot_index,
    )


async def instance_volumes(
    s: AsyncSession, instance_uuid: str
) -> list[contract.VolumeAttachmentSpec]:
    """The attached volumes of an instance, the boot volume first (and the ones a
    spawn reserved and connected: a resent spawn carries them too).

    Not the ones being detached. A host may run an op sent with this list after the
    detach op has freed the volume (a reboot or rebuild redefines the guest from it):
    the guest would then take back a volume that is ``available`` to other servers.
    Left out, the worst is the other order: the guest lets go of it before the detach
    op runs, and that op finds it gone, which is a success."""
    rows = await s.scalars(
        select(VolumeAttachment).where(
            VolumeAttachment.instance_uuid == instance_uuid,
            VolumeAttachment.attach_status.in_(("attached", "reserved")),
        )
    )
    specs = [
        attachment_spec(a)
        for a in rows
        if a.attach_status != "reserved" or (a.connection_info and a.attached_host)
    ]
    return sorted(specs, key=lambda v: (v.boot_index != 0, v.device))


class VolumeFlow:
    def __init__(self, ctx: FlowContext) -> None:
        self.ctx = ctx

    def _lease_seconds(self, op: str) -> float:
        base = self.ctx.op_lease().total_seconds()
        if op == "detach_volume":
            # The agents wait this long for a guest to release the device (the roles
            # share one settings file); the lease outlasts it by an op lease.
            return base + self.ctx.settings.volume_detach_timeout_seconds
        return base

    async def handle_instance(self, uuid: str) -> None:
        """Drive every attachment of ``uuid`` that waits for its op (a hint came)."""
        async with self.ctx.db.session() as s:
            ids = list(
                await s.scalars(
                    select(VolumeAttachment.id).where(
                        VolumeAttachment.instance_uuid == uuid,
                        VolumeAttachment.attach_status.in_(list(_OPS)),
                        VolumeAttachment.lease_owner.is_(None),
                    )
                )
            )
        for att_id in ids:
            await self.drive(att_id)

    async def drive(self, att_id: str) -> None:
        envelope: tuple[str, dict[str, Any]] | None = None
        async with self.ctx.db.session() as s:
            att = await s.get(VolumeAttachment, att_id)
            if att is None or att.attach_status not in _OPS or att.lease_owner is not None:
                return
            op = _OPS[att.attach_status]
            op_id = new_op_id()
            now = utcnow()
            taken = await execute_count(
                s,
                update(VolumeAttachment)
                .where(VolumeAttachment.id == att_id, VolumeAttachment.lease_owner.is_(None))
                .values(
                    lease_owner=op_owner(op, op_id),
                    lease_expires=now + timedelta(seconds=self._lease_seconds(op)),
                )
                .execution_options(synchronize_session=False),
            )
            if taken != 1:
                return
            att.lease_owner = op_owner(op, op_id)
            inst = await s.scalar(
                select(Instance).where(
                    Instance.uuid == att.instance_uuid, Instance.deleted.is_(False)
                )
            )
            if inst is None or not inst.host:
                await self._end(s, att, op, False, f"Server {att.instance_uuid} has no host.")
                return
            await records.start_event(s, inst.uuid, EVENTS[op], host=inst.host)
            request = op_request(inst, op, op_id)  # type: ignore[arg-type]
            request.instance.volumes = await instance_volumes(s, inst.uuid)
            request.volume = attachment_spec(att)
            envelope = (contract.compute_topic(inst.host), contract.encode(request))
        if envelope is not None:
            await self.ctx.bus.publish(*envelope)

    async def on_result(self, msg: contract.OpResult) -> None:
        """Apply the result of an attachment's current op; stale ones are ignored."""
        async with self.ctx.db.session() as s:
            att = await s.scalar(
                select(VolumeAttachment).where(
                    VolumeAttachment.lease_owner == op_owner(msg.op, msg.op_id)
                )
            )
            if att is not None:
                att = await _locked(s, att)
            if att is None or att.lease_owner != op_owner(msg.op, msg.op_id):
                log.debug("stale %s result %s ignored", msg.op, msg.op_id)
                return
            error = msg.error or "unknown error"
            reason = None if msg.ok else "\n".join(x for x in (error, msg.details) if x)
            await self._end(s, att, msg.op, msg.ok, reason, host=msg.host)

    async def _end(
        self,
        s: AsyncSession,
        att: VolumeAttachment,
        op: str,
        ok: bool,
        reason: str | None,
        *,
        host: str | None = None,
        lost: bool = False,
    ) -> None:
        """``lost``: the op's lease ran out without an answer, so whether the host did it
        is unknown."""
        volume = await s.get(Volume, att.volume_id)
        uuid = att.instance_uuid or ""
        att.lease_owner = None
        att.lease_expires = None
        if volume is None:
            await s.delete(att)
        elif op == "attach_volume":
            if ok:
                await flow.complete(s, att, volume)
            elif lost:
                # The guest may hold the volume (the op ran, its answer was lost, or it
                # runs late): the volume is free again only once the host detached it.
                # The next pass sends the detach; a detach that fails leaves it in-use.
                att.attach_status = "detaching"
                att.status_reason = reason
                await flow.undo_attach(s, volume)
            else:
                await flow.remove(s, att, volume)
        elif ok:
            att.detach_time = utcnow()
            await flow.remove(s, att, volume)
        else:
            att.attach_status = "attached"
            att.status_reason = reason
            await flow.roll_detach(s, volume)
        if not ok:
            verb = "attach" if op == "attach_volume" else "detach"
            message = f"Failed to {verb} volume {att.volume_id}: {reason}"
            await records.finish_event(s, uuid, EVENTS[op], False, traceback=message, host=host)
            log.warning("instance %s: %s", uuid, message)
        else:
            await records.finish_event(s, uuid, EVENTS[op], True, host=host)
        await records.finish_action(s, uuid)

    async def reconcile_once(self) -> int:
        """End ops whose lease expired (a lost op or result) and drive hints lost."""
        now = utcnow()
        grace = now - timedelta(seconds=max(1.0, self.ctx.settings.reconcile_interval_seconds))
        async with self.ctx.db.session() as s:
            rows = list(
                await s.scalars(
                    select(VolumeAttachment).where(
                        VolumeAttachment.attach_status.in_(list(_OPS)),
                        VolumeAttachment.instance_uuid.is_not(None),
                        or_(
                            VolumeAttachment.lease_expires < now,
                            and_(
                                VolumeAttachment.lease_owner.is_(None),
                                VolumeAttachment.updated_at < grace,
                            ),
                        ),
                    )
                )
            )
        done = 0
        for att in rows:
            if att.lease_owner is None:
                await self.drive(att.id)
                done += 1
                continue
            async with self.ctx.db.session() as s:
                row = await s.get(VolumeAttachment, att.id)
                if row is not None:
                    row = await _locked(s, row)
                if row is None or row.lease_owner != att.lease_owner:
                    continue  # its result came in meanwhile, or a server delete took it
                op = _OPS[row.attach_status]
                verb = "attach" if op == "attach_volume" else "detach"
                await self._end(
                    s,
                    row,
                    op,
                    False,
                    f"The compute host did not {verb} the volume in time (no answer from "
                    "its agent).",
                    lost=True,
                )
            done += 1
        return done


async def _locked(s: AsyncSession, att: VolumeAttachment) -> VolumeAttachment | None:
    """The attachment as it is once its server's row is locked (as a server delete
    locks it before it removes the server's attachments): None if that delete removed
    it meanwhile. Ending it from the earlier read wrote a row that was gone."""
    if att.instance_uuid:
        await s.execute(
            select(Instance.id).where(Instance.uuid == att.instance_uuid).with_for_update()
        )
    return await s.scalar(
        select(VolumeAttachment)
        .where(VolumeAttachment.id == att.id)
        .execution_options(populate_existing=True)
    )


async def release_for_delete(s: AsyncSession, instance_uuid: str) -> list[str]:
    """A deleted server lets go of its volumes; returns the ids of volumes to delete
    (``delete_on_termination``), already moved to ``deleting``."""
    rows = list(
        await s.scalars(
            select(VolumeAttachment).where(VolumeAttachment.instance_uuid == instance_uuid)
        )
    )
    doomed: list[str] = []
    for att in rows:
        volume = await s.get(Volume, att.volume_id)
        if volume is None:
            await s.delete(att)
            continue
        delete = att.delete_on_termination
        await flow.remove(s, att, volume)
        if delete and volume.status == "available":
            volume.status = "deleting"
            volume.task_started_at = utcnow()
            volume.status_reason = None
            doomed.append(volume.id)
    return doomed
