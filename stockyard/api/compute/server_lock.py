"""``lock`` and ``unlock`` server actions (Nova's os-lock-server).

A lock is an attribute of the server, not a lifecycle state: it starts no task, and
``server_common.ensure_unlocked`` makes every action, delete and metadata write of a
non-admin answer 409 while it is set. Nova's rules:

- the owner's project or an admin may lock; ``locked_by`` records which ("owner" when
  the caller's project owns the server, else "admin");
- a lock taken by the other side can be lifted only with ``unlock_override``
  (admin-only): so an owner cannot lift an admin's lock;
- locking an already locked server as its owner is a no-op (nothing recorded);
- 2.73: ``{"lock": {"locked_reason": "..."}}`` (1..255 characters, no other key) or
  ``{"lock": null}``; before 2.73 the body's value is ignored.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.api.compute.server_common import load_server
from stockyard.api.errors import APIError
from stockyard.api.microversion import APIVersion
from stockyard.identity.context import RequestContext
from stockyard.lifecycle.records import record_api_action

LOCK = "lock"
UNLOCK = "unlock"
REASON_MAX = 255
OWNER = "owner"
ADMIN = "admin"


def _reason(value: Any, version: APIVersion) -> str | None:
    if not version.at_least("2.73") or value is None:
        return None
    if not isinstance(value, dict) or set(value) - {"locked_reason"}:
        raise APIError(
            400,
            f"Invalid input for field/attribute lock. Value: {value!r}. "
            "It must be null or an object with only 'locked_reason'.",
        )
    if "locked_reason" not in value:
        return None
    reason = value["locked_reason"]
    if not isinstance(reason, str) or not 1 <= len(reason) <= REASON_MAX:
        raise APIError(
            400,
            f"Invalid input for field/attribute locked_reason. Value: {reason!r}. "
            f"It must be a string of 1 to {REASON_MAX} characters.",
        )
    return reason


def _side(ctx: RequestContext, project_id: str) -> str:
    """Which side the caller locks (or unlocks) as, by Nova's ``is_owner``."""
    return OWNER if ctx.project_id == project_id else ADMIN


async def lock_server(
    session: AsyncSession,
    ctx: RequestContext,
    server_id: str,
    value: Any,
    version: APIVersion,
    request_id: str,
) -> None:
    reason = _reason(value, version)
    inst = await load_server(session, ctx, server_id, for_update=True)
    side = _side(ctx, inst.project_id)
    if inst.locked and side == OWNER:
        return
    inst.locked = True
    inst.locked_by = side
    # Nova keeps the old reason when a re-lock gives none (it only sets a given one).
    if reason:
        inst.locked_reason = reason
    await record_api_action(
        session,
        inst,
        LOCK,
        request_id=request_id,
        user_id=ctx.user_id,
        project_id=ctx.project_id or "",
    )
    await session.commit()


async def unlock_server(
    session: AsyncSession, ctx: RequestContext, server_id: str, request_id: str
) -> None:
    inst = await load_server(session, ctx, server_id, for_update=True)
    expected = _side(ctx, inst.project_id)
    if inst.locked_by and inst.locked_by != expected and not ctx.is_admin:
        raise APIError(
            403,
            "Policy doesn't allow os_compute_api:os-lock-server:unlock:unlock_override "
            "to be performed.",
        )
    inst.locked = False
    inst.locked_by = None
    inst.locked_reason = None
    await record_api_action(
        session,
        inst,
        UNLOCK,
        request_id=request_id,
        user_id=ctx.user_id,
        project_id=ctx.project_id or "",
    )
    await session.commit()
