"""``/servers/{id}/os-volume_attachments`` (Nova's volume attach and detach).

The API reserves the volume (``reserved`` -> ``attaching`` with the server's host as the
connector), records the ``attach_volume``/``detach_volume`` instance action and hints the
conductor, whose volume flow sends the op to the host's agent and moves the volume to
``in-use`` (or back to ``available`` with a failed event the user can read). Views by
microversion: ``tag`` from 2.70, ``delete_on_termination`` from 2.79, ``attachment_id``
and ``bdm_uuid`` instead of ``id`` in show/list from 2.89; PUT changes
``delete_on_termination`` from 2.85; swapping volumes is refused (409).
"""

from __future__ import annotations

import uuid as uuidlib
from typing import Any

from fastapi import APIRouter, Body, Request, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.api.compute.server_common import (
    ensure_unlocked,
    hint_conductor,
    load_server,
    request_id,
)
from stockyard.api.deps import Microversion, ProjectCtx, SessionDep, StateDep
from stockyard.api.errors import APIError
from stockyard.api.microversion import APIVersion
from stockyard.db.models import Instance, InstanceAction, Volume, VolumeAttachment
from stockyard.identity.context import RequestContext
from stockyard.volume import attachments as flow

router = APIRouter()
ATTACH_VM_STATES = ("active", "stopped")
"""Nova's check_instance_state for attach/detach (of the states this cloud has)."""
_BDM_NS = uuidlib.UUID("9f1a0c1e-4b55-4b0e-9a51-7d2f1e0c3a10")


def view(att: VolumeAttachment, version: APIVersion, *, created: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "device": att.mountpoint,
        "serverId": att.instance_uuid,
        "volumeId": att.volume_id,
    }
    if created or not version.at_least("2.89"):
        body["id"] = att.volume_id
    if version.at_least("2.70"):
        body["tag"] = att.tag
    if version.at_least("2.79"):
        body["delete_on_termination"] = att.delete_on_termination
    if version.at_least("2.89") and not created:
        body["attachment_id"] = att.id
        body["bdm_uuid"] = str(uuidlib.uuid5(_BDM_NS, att.id))
    return body


def is_baremetal(inst: Instance) -> bool:
    """Baremetal flavors ask for a whole node (``resources:CUSTOM_<class>=1``)."""
    specs = (inst.flavor or {}).get("extra_specs") or {}
    return any(
        str(k).startswith("resources:CUSTOM_") and str(v).strip() not in ("", "0")
        for k, v in specs.items()
    )


def _check_state(inst: Instance, action: str) -> None:
    if inst.vm_state not in ATTACH_VM_STATES:
        raise APIError(
            409, f"Cannot '{action}' instance {inst.uuid} while it is in vm_state {inst.vm_state}"
        )
    if inst.task_state is not None:
        raise APIError(
            409,
            f"Cannot '{action}' instance {inst.uuid} while it is in task_state {inst.task_state}",
        )


async def _attachments(s: AsyncSession, server_id: str) -> list[VolumeAttachment]:
    return list(
        await s.scalars(
            select(VolumeAttachment)
            .where(VolumeAttachment.instance_uuid == server_id)
            .order_by(VolumeAttachment.created_at)
        )
    )


async def _attachment(s: AsyncSession, server_id: str, volume_id: str) -> VolumeAttachment:
    att = await s.scalar(
        select(VolumeAttachment).where(
            VolumeAttachment.instance_uuid == server_id, VolumeAttachment.volume_id == volume_id
        )
    )
    if att is None:
        raise APIError(404, f"Volume {volume_id} is not attached to server {server_id}.")
    return att


def _record(s: AsyncSession, inst: Instance, name: str, ctx: RequestContext, rid: str) -> None:
    s.add(
        InstanceAction(
            instance_uuid=inst.uuid,
            action=name,
            request_id=rid,
            user_id=ctx.user_id,
            project_id=ctx.project_id or inst.project_id,
        )
    )


def _next_device(used: list[str | None]) -> str:
    taken = {d for d in used if d}
    for letter in "bcdefghijklmnopqrstuvwxyz":
        if f"/dev/vd{letter}" not in taken:
            return f"/dev/vd{letter}"
    raise APIError(400, "No free disk device names for prefix 'vd'")


@router.get("/servers/{server_id}/os-volume_attachments")
async def list_attachments(
    server_id: str, ctx: ProjectCtx, session: SessionDep, version: Microversion, request: Request
) -> dict[str, Any]:
    await load_server(session, ctx, server_id)
    rows = await _attachments(session, server_id)
    offset = int(request.query_params.get("offset", 0) or 0)
    limit = request.query_params.get("limit")
    rows = rows[offset:] if limit is None else rows[offset : offset + int(limit)]
    return {"volumeAttachments": [view(a, version) for a in rows]}


@router.get("/servers/{server_id}/os-volume_attachments/{volume_id}")
async def show_attachment(
    server_id: str, volume_id: str, ctx: ProjectCtx, session: SessionDep, version: Microversion
) -> dict[str, Any]:
    await load_server(session, ctx, server_id)
    return {"volumeAttachment": view(await _attachment(session, server_id, volume_id), version)}


def _attach_body(body: Any, version: APIVersion) -> dict[str, Any]:
    data = body.get("volumeAttachment") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        raise APIError(400, "Invalid input for field/attribute volumeAttachment.")
    allowed = {"volumeId", "device"}
    if version.at_least("2.49"):
        allowed.add("tag")
    if version.at_least("2.79"):
        allowed.add("delete_on_termination")
    if extra := set(data) - allowed:
        raise APIError(
            400, f"Additional properties are not allowed ({', '.join(sorted(extra))} unexpected)"
        )
    volume_id = data.get("volumeId")
    try:
        uuidlib.UUID(str(volume_id))
    except ValueError:
        raise APIError(
            400, f"Invalid input for field/attribute volumeId. Value: {volume_id}."
        ) from None
    tag = data.get("tag")
    if tag is not None and (not isinstance(tag, str) or not 1 <= len(tag) <= 60 or "/" in tag):
        raise APIError(400, f"Invalid input for field/attribute tag. Value: {tag}.")
    dot = data.get("delete_on_termination", False)
    if not isinstance(dot, bool):
        raise APIError(
            400, f"Invalid input for field/attribute delete_on_termination. Value: {dot}."
        )
    return data


@router.post("/servers/{server_id}/os-volume_attachments")
async def attach(
    server_id: str,
    ctx: ProjectCtx,
    session: SessionDep,
    state: StateDep,
    version: Microversion,
    request: Request,
    body: Any = Body(None),
) -> dict[str, Any]:
    data = _attach_body(body, version)
    inst = await load_server(session, ctx, server_id)
    ensure_unlocked(ctx, inst)
    volume = await session.get(Volume, data["volumeId"])
    if volume is None or (volume.project_id != inst.project_id and not ctx.is_admin):
        raise APIError(404, f"Volume {data['volumeId']} could not be found.")
    if is_baremetal(inst):
        raise APIError(
            409,
            f"Cannot attach volume {volume.id} to baremetal server {inst.uuid}: baremetal "
            "nodes have no storage network in this cloud.",
        )
    _check_state(inst, "attach_volume")
    existing = await _attachments(session, server_id)
    if any(a.volume_id == volume.id for a in existing):
        raise APIError(400, f"Invalid volume: volume {volume.id} already attached")
    device = data.get("device") or _next_device([a.mountpoint for a in existing])
    if any(a.mountpoint == device for a in existing):
        raise APIError(409, f"The supplied device path ({device}) is in use.")
    try:
        att = await flow.reserve(
            session,
            volume,
            inst.uuid,
            mountpoint=device,
            tag=data.get("tag"),
            delete_on_termination=bool(data.get("delete_on_termination", False)),
        )
        await flow.connect(
            session, state.settings, att, volume, {"host": inst.host or "", "mountpoint": device}
        )
    except flow.AttachError as exc:
        await session.rollback()
        raise APIError(400 if exc.code < 500 else exc.code, exc.message) from None
    rid = request_id(request)
    _record(session, inst, "attach_volume", ctx, rid)
    await session.commit()
    await hint_conductor(state, inst.uuid, rid)
    return {"volumeAttachment": view(att, version, created=True)}


@router.put("/servers/{server_id}/os-volume_attachments/{volume_id}", status_code=202)
async def update(
    server_id: str,
    volume_id: str,
    ctx: ProjectCtx,
    session: SessionDep,
    version: Microversion,
    body: Any = Body(None),
) -> Response:
    data = body.get("volumeAttachment") if isinstance(body, dict) else None
    if not isinstance(data, dict) or "volumeId" not in data:
        raise APIError(400, "Invalid input for field/attribute volumeAttachment.")
    inst = await load_server(session, ctx, server_id)
    att = await _attachment(session, server_id, volume_id)
    if data["volumeId"] != volume_id:
        if not ctx.is_admin:
            raise APIError(
                403,
                "Policy doesn't allow os_compute_api:os-volumes-attachments:swap to be performed.",
            )
        raise APIError(409, "Swapping a server's volume is not supported by this cloud.")
    if not version.at_least("2.85"):
        raise APIError(400, "The volumeId of the request must differ from the attached volume.")
    allowed = {"volumeId", "delete_on_termination", "device", "tag", "id", "serverId"}
    if extra := set(data) - allowed:
        raise APIError(400, f"Additional properties are not allowed ({', '.join(sorted(extra))})")
    for key, current in (("device", att.mountpoint), ("tag", att.tag), ("serverId", inst.uuid)):
        if key in data and data[key] != current:
            raise APIError(400, f"Updating '{key}' is not supported.")
    if "delete_on_termination" in data:
        if not isinstance(data["delete_on_termination"], bool):
            raise APIError(400, "Invalid input for field/attribute delete_on_termination.")
        ensure_unlocked(ctx, inst)
        att.delete_on_termination = data["delete_on_termination"]
    await session.commit()
    return Response(status_code=202)


@router.delete("/servers/{server_id}/os-volume_attachments/{volume_id}", status_code=202)
async def detach(
    server_id: str,
    volume_id: str,
    ctx: ProjectCtx,
    session: SessionDep,
    state: StateDep,
    request: Request,
) -> Response:
    inst = await load_server(session, ctx, server_id)
    ensure_unlocked(ctx, inst)
    att = await _attachment(session, server_id, volume_id)
    _check_state(inst, "detach_volume")
    if att.boot_index == 0:
        raise APIError(403, "Cannot detach a root device volume")
    volume = await session.get(Volume, volume_id)
    if att.attach_status != "attached" or volume is None:
        raise APIError(
            400, f"Invalid volume: Volume {volume_id} is {att.attach_status}, not attached."
        )
    try:
        await flow.begin_detach(session, volume)
    except flow.AttachError as exc:
        await session.rollback()
        raise APIError(400, exc.message) from None
    att.attach_status = "detaching"
    att.status_reason = None
    rid = request_id(request)
    _record(session, inst, "detach_volume", ctx, rid)
    await session.commit()
    await hint_conductor(state, inst.uuid, rid)
    return Response(status_code=202)


async def volumes_attached(s: AsyncSession, uuids: list[str]) -> dict[str, list[tuple[str, bool]]]:
    """``os-extended-volumes:volumes_attached`` of these servers, one query: the volumes
    attached (or being detached, or reserved for the server's build), the boot volume
    first."""
    if not uuids:
        return {}
    att = VolumeAttachment.__table__.c
    conn = await s.connection()  # plain rows: a page may hold a thousand servers
    rows = await conn.execute(
        select(att.instance_uuid, att.volume_id, att.delete_on_termination, att.boot_index)
        .where(
            att.instance_uuid.in_(uuids),
            att.attach_status.in_(("attached", "detaching", "reserved")),
        )
        .order_by(att.created_at)
    )
    out: dict[str, list[tuple[str, bool]]] = {}
    for row in sorted(rows, key=lambda a: a.boot_index != 0):
        out.setdefault(row.instance_uuid or "", []).append(
            (row.volume_id, row.delete_on_termination)
        )
    return out
