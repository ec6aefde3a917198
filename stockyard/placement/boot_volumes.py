"""The build's block device step: a server with volumes (boot from volume, volumes
requested at create) is placed once its volumes are ``available``, and spawns with them
reserved and connected on its host.

- :func:`gate` (before placement): a server whose volumes the volume role is still
  making is left in ``scheduling`` unleased, so the reconciler hands it back each pass
  until they are ready; a volume that failed (or a quota refusal kept on the mapping)
  ends the server in ERROR with the reason.
- :func:`reserve_for_spawn` (in the placement transaction, after the ports): every
  volume reserved for the server (Cinder attachment ``reserved``, volume ``reserved``)
  with the chosen host's connection info; the spawn op carries them
  (``InstanceSpec.volumes``, boot volume first as ``vda``). They stay ``reserved``, not
  ``attaching``, so the conductor's attach flow never drives them as live attaches.
- :func:`finish_spawn`: a spawn that succeeded completes them (``in-use``); a failed one
  removes them (``available`` again), before the server is rescheduled or fails.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.bus import contract
from stockyard.db.base import delete_once, execute_count, utcnow
from stockyard.db.models import Host, Instance, Volume, VolumeAttachment
from stockyard.lifecycle import leases, records
from stockyard.lifecycle.block_devices import mappings
from stockyard.lifecycle.states import TaskState
from stockyard.placement.context import FlowContext
from stockyard.volume import attachments as flow
from stockyard.volume.drivers.base import Connector
from stockyard.volume.states import VolumeStatus

log = logging.getLogger(__name__)
_WAIT = (VolumeStatus.CREATING, "downloading")


class VolumesNotReady(Exception):
    """The volumes cannot be reserved; the message says which and why."""


def _failure(inst: Instance, volumes: dict[str, Volume]) -> str | None:
    """Why the server cannot get its volumes, or None (ready or still being made)."""
    for m in mappings(inst):
        if m.get("error"):
            return str(m["error"])
        vid = m.get("volume_id")
        volume = volumes.get(str(vid)) if vid else None
        if volume is None:
            return f"Volume {vid} of the server's block device mapping no longer exists."
        if volume.status == VolumeStatus.ERROR:
            reason = f": {volume.status_reason}" if volume.status_reason else ""
            return f"Volume {vid} did not become available (status error){reason}"
    return None


def _ready(inst: Instance, volumes: dict[str, Volume]) -> bool:
    return all(
        (v := volumes.get(str(m.get("volume_id")))) is not None and v.status not in _WAIT
        for m in mappings(inst)
    )


async def gate(ctx: FlowContext, uuids: Sequence[str]) -> list[str]:
    """``uuids`` minus servers still waiting for their volumes (and minus those whose
    volumes failed: they are failed here, readably)."""
    if not uuids:
        return []
    async with ctx.db.session() as s:
        rows = [
            r
            for r in (
                await s.scalars(
                    select(Instance).where(
                        Instance.uuid.in_(list(uuids)), Instance.block_devices.is_not(None)
                    )
                )
            ).all()
            if mappings(r)
        ]
        if not rows:
            return list(uuids)
        ids = {str(m["volume_id"]) for r in rows for m in mappings(r) if m.get("volume_id")}
        volumes = {v.id: v for v in await s.scalars(select(Volume).where(Volume.id.in_(list(ids))))}
        held: set[str] = set()
        failed: list[tuple[str, str]] = []
        for inst in rows:
            reason = _failure(inst, volumes)
            if reason is not None:
                failed.append((inst.uuid, reason))
                held.add(inst.uuid)
            elif not _ready(inst, volumes):
                held.add(inst.uuid)
    for uuid, reason in failed:
        await _fail(ctx, uuid, reason)
    return [u for u in uuids if u not in held]


async def _fail(ctx: FlowContext, uuid: str, reason: str) -> None:
    now = utcnow()
    async with ctx.db.session() as s:
        me = ctx.conductor_id
        if not await leases.acquire(s, [uuid], TaskState.SCHEDULING, me, now, ctx.lease_until(now)):
            return
        inst = await s.scalar(
            select(Instance).where(Instance.uuid == uuid).execution_options(populate_existing=True)
        )
        assert inst is not None
        await records.fail_instance(s, inst, f"Build of instance {uuid} aborted: {reason}")
    log.warning("instance %s: %s", uuid, reason)


async def _ours(s: AsyncSession, inst: Instance) -> list[VolumeAttachment]:
    return list(
        await s.scalars(
            select(VolumeAttachment).where(
                VolumeAttachment.instance_uuid == inst.uuid,
                VolumeAttachment.attach_status == "reserved",
            )
        )
    )


async def reserve_for_spawn(
    ctx: FlowContext, s: AsyncSession, inst: Instance, host: Host
) -> list[contract.VolumeAttachmentSpec]:
    """Reserve and connect the server's volumes on ``host``; raises
    :class:`VolumesNotReady` (after undoing what it reserved) if one cannot be."""
    if not mappings(inst):
        return []
    # A previous attempt's reservations (a reschedule) are ours: start again.
    await release_reserved(s, inst)
    made: list[tuple[VolumeAttachment, Volume]] = []
    specs: list[contract.VolumeAttachmentSpec] = []
    try:
        for m in mappings(inst):
            volume = await s.get(Volume, str(m.get("volume_id")), populate_existing=True)
            if volume is None:
                raise flow.AttachError(404, f"Volume {m.get('volume_id')} could not be found.")
            boot = m.get("boot_index") == 0
            device = str(m.get("device_name") or "")
            att = await flow.reserve(
                s,
                volume,
                inst.uuid,
                mountpoint=device,
                tag=m.get("tag"),
                delete_on_termination=bool(m.get("delete_on_termination")),
                boot_index=0 if boot else None,
            )
            made.append((att, volume))
            att.connection_info = await flow.connection_info(
                ctx.settings, volume, Connector(host=host.name)
            )
            att.connector = {"host": host.name, "mountpoint": device}
            att.attached_host = host.name
            spec = contract.VolumeAttachmentSpec(
                volume_id=volume.id,
                attachment_id=att.id,
                device=device,
                connection_info=dict(att.connection_info),
                read_only=att.attach_mode == "ro",
                boot_index=att.boot_index,
            )
            specs.append(spec)
    except flow.AttachError as exc:
        for att, volume in made:
            await flow.remove(s, att, volume)
        raise VolumesNotReady(exc.message) from None
    return sorted(specs, key=lambda v: (v.boot_index != 0, v.device))


async def release_reserved(s: AsyncSession, inst: Instance) -> None:
    """Let go of the volumes reserved for a spawn that did not happen."""
    for att in await _ours(s, inst):
        volume = await s.get(Volume, att.volume_id)
        if volume is None:
            await delete_once(s, att)  # or gone meanwhile (as flow.remove allows)
        else:
            await flow.remove(s, att, volume)


async def finish_spawn(s: AsyncSession, inst: Instance, ok: bool) -> None:
    """The spawn's volumes: ``in-use`` when it succeeded, released when it failed."""
    if not ok:
        await release_reserved(s, inst)
        return
    for att in await _ours(s, inst):
        if not att.connection_info:
            continue
        volume = await s.get(Volume, att.volume_id)
        if volume is not None:
            await flow.complete(s, att, volume)


async def unattached_to_delete(s: AsyncSession, inst: Instance) -> list[str]:
    """Volumes made for the server and marked ``delete_on_termination`` that are not
    attached (the build never got them that far): moved to ``deleting``."""
    doomed: list[str] = []
    for m in mappings(inst):
        vid = m.get("volume_id")
        if not vid or not m.get("delete_on_termination"):
            continue
        volume = await s.get(Volume, str(vid))
        if volume is None:
            continue
        if volume.status == VolumeStatus.CREATING:
            # Still being made: the volume role deletes it when the create ends. The
            # condition is checked by the UPDATE itself, so a create that ended
            # meanwhile is seen below instead.
            flag = (
                update(Volume)
                .where(Volume.id == volume.id, Volume.status == VolumeStatus.CREATING)
                .values(delete_when_made=True)
                .execution_options(synchronize_session=False)
            )
            if await execute_count(s, flag):
                continue
            # Its create ended meanwhile; it may even be gone (a user's delete).
            volume = await s.scalar(
                select(Volume)
                .where(Volume.id == volume.id)
                .execution_options(populate_existing=True)
            )
            if volume is None:
                continue
        if volume.status not in (VolumeStatus.AVAILABLE, VolumeStatus.ERROR):
            continue
        if await flow.of_volume(s, volume.id):
            continue
        volume.status = VolumeStatus.DELETING
        volume.task_started_at = utcnow()
        volume.status_reason = None
        doomed.append(volume.id)
    return doomed
