"""``/servers/{id}/os-server-password`` (Nova's os-server-password).

Nova keeps the password a guest agent posted, encrypted with the server's key, to its
metadata service. Stockyard has no metadata service to receive one, so a server never
has one: GET answers Nova's "no password" (an empty string) and DELETE, which only
clears it, always succeeds.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from stockyard.api.compute.server_common import ensure_unlocked, load_server
from stockyard.api.deps import ProjectCtx, SessionDep, WriterCtx

router = APIRouter()


@router.get("/servers/{server_id}/os-server-password")
async def get_password(server_id: str, session: SessionDep, ctx: ProjectCtx) -> dict[str, Any]:
    await load_server(session, ctx, server_id)
    return {"password": ""}


@router.delete("/servers/{server_id}/os-server-password", status_code=204)
async def clear_password(server_id: str, session: SessionDep, ctx: WriterCtx) -> Response:
    inst = await load_server(session, ctx, server_id)
    ensure_unlocked(ctx, inst)
    return Response(status_code=204)
