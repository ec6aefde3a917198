"""User messages (``/messages``, microversion 3.3): why a volume or snapshot ended in an
error status, readable by its project's users.

A message is derived from the row, not stored apart: a volume or snapshot in an error
status with a ``status_reason`` is one message, whose id is stable while the row stays
in that state. Deleting the message clears the reason (the status stays). Event ids use
Cinder's ``VOLUME_<resource>_<action>_<detail>`` form and codes where Cinder has one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.api.deps import ProjectCtx, SessionDep, StateDep, WriterCtx
from stockyard.api.errors import APIError
from stockyard.api.volume.common import VolumeVersion, iso, page, parse_limit
from stockyard.db.base import utcnow
from stockyard.db.models import Volume, VolumeSnapshot
from stockyard.identity.context import RequestContext

router = APIRouter()
MESSAGE_TTL = timedelta(days=30)  # Cinder's message_ttl default
_NAMESPACE = uuid.UUID("8a3c6f0e-4b7d-4a52-9d0b-6f1f4c3e2a10")

# status -> (action code, action text), per resource; Cinder's codes where they exist.
_VOLUME_ACTIONS = {
    "error": ("001", "schedule allocate volume"),
    "error_extending": ("007", "extend volume"),
    "error_deleting": ("901", "delete volume"),
}
_SNAPSHOT_ACTIONS = {
    "error": ("902", "create snapshot"),
    "error_deleting": ("903", "delete snapshot"),
}


@dataclass(frozen=True)
class _Message:
    id: str
    body: dict[str, Any]
    row: Volume | VolumeSnapshot


def _detail(status: str, reason: str) -> str:
    if reason.startswith("No valid backend"):
        return "003"  # Cinder's NO_BACKEND_AVAILABLE
    if status == "error_extending":
        return "010"  # Cinder's DRIVER_FAILED_EXTEND
    return "001"  # UNKNOWN_ERROR: the text says what happened


def _message(row: Volume | VolumeSnapshot, kind: str, base_url: str) -> _Message | None:
    actions = _VOLUME_ACTIONS if kind == "VOLUME" else _SNAPSHOT_ACTIONS
    if row.status not in actions or not row.status_reason:
        return None
    when: datetime = row.updated_at or row.created_at
    message_id = str(uuid.uuid5(_NAMESPACE, f"{kind}:{row.id}:{row.status}:{iso(when)}"))
    code, action = actions[row.status]
    body = {
        "id": message_id,
        "event_id": f"VOLUME_{kind}_{code}_{_detail(row.status, row.status_reason)}",
        "user_message": f"{action}: {row.status_reason}",
        "message_level": "ERROR",
        "resource_type": kind,
        "resource_uuid": row.id,
        "created_at": iso(when),
        "guaranteed_until": iso(when + MESSAGE_TTL),
        # The failing step may run long after, and without, the request that asked.
        "request_id": "",
        "links": [
            {"href": f"{base_url}/volume/v3/{row.project_id}/messages/{message_id}", "rel": "self"},
            {
                "href": f"{base_url}/volume/{row.project_id}/messages/{message_id}",
                "rel": "bookmark",
            },
        ],
    }
    return _Message(message_id, body, row)


async def _all(session: AsyncSession, ctx: RequestContext, base_url: str) -> list[_Message]:
    out: list[_Message] = []
    volumes = await session.scalars(
        select(Volume).where(Volume.project_id == ctx.project_id, Volume.status_reason.is_not(None))
    )
    snapshots = await session.scalars(
        select(VolumeSnapshot).where(
            VolumeSnapshot.project_id == ctx.project_id, VolumeSnapshot.status_reason.is_not(None)
        )
    )
    rows: list[tuple[Volume | VolumeSnapshot, str]] = [(v, "VOLUME") for v in volumes]
    rows += [(s, "VOLUME_SNAPSHOT") for s in snapshots]
    out.extend(m for row, kind in rows if (m := _message(row, kind, base_url)) is not None)
    out.sort(key=lambda m: (m.body["created_at"], m.id), reverse=True)
    return out


def _check_version(version: VolumeVersion) -> None:
    if not version.at_least("3.3"):
        raise APIError(404, "The resource could not be found.")


@router.get("/messages")
async def list_messages(
    version: VolumeVersion,
    ctx: ProjectCtx,
    session: SessionDep,
    state: StateDep,
    request: Request,
) -> dict[str, Any]:
    _check_version(version)
    messages = await _all(session, ctx, state.settings.base_url)
    for key in ("resource_uuid", "resource_type", "event_id", "message_level"):
        if (wanted := request.query_params.get(key)) is not None:
            messages = [m for m in messages if m.body[key] == wanted]
    params = request.query_params
    shown = page(messages, params.get("marker"), parse_limit(request))
    return {"messages": [m.body for m in shown]}


async def _find(
    session: AsyncSession, ctx: RequestContext, base_url: str, message_id: str
) -> _Message:
    for message in await _all(session, ctx, base_url):
        if message.id == message_id:
            return message
    raise APIError(404, f"Message {message_id} could not be found.")


@router.get("/messages/{message_id}")
async def show_message(
    message_id: str, version: VolumeVersion, ctx: ProjectCtx, session: SessionDep, state: StateDep
) -> dict[str, Any]:
    _check_version(version)
    found = await _find(session, ctx, state.settings.base_url, message_id)
    return {"message": found.body}


@router.delete("/messages/{message_id}")
async def delete_message(
    message_id: str, version: VolumeVersion, ctx: WriterCtx, session: SessionDep, state: StateDep
) -> Response:
    _check_version(version)
    found = await _find(session, ctx, state.settings.base_url, message_id)
    found.row.status_reason = None
    found.row.updated_at = utcnow()
    await session.commit()
    return Response(status_code=204)
