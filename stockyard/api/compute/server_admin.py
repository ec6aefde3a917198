"""Admin-only server actions: ``os-resetState``.

Nova's order: the body is validated first (400), then the server is looked up (404,
also for another project's server seen by a non-admin), then the policy (403).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.api.compute.server_common import load_server
from stockyard.api.errors import APIError
from stockyard.identity.context import RequestContext
from stockyard.lifecycle.records import RESET_STATES, reset_state

RESET_STATE = "os-resetState"


def _target_state(value: Any) -> str:
    if not isinstance(value, dict) or set(value) != {"state"}:
        raise APIError(
            400,
            f"Invalid input for field/attribute {RESET_STATE}. Value: {value!r}. "
            "It must be an object with only 'state'.",
        )
    state = value["state"]
    if not isinstance(state, str) or state not in RESET_STATES:
        raise APIError(
            400,
            f"Invalid input for field/attribute state. Value: {state!r}. "
            f"{state!r} is not one of {sorted(RESET_STATES)}",
        )
    return state


async def reset_server_state(
    session: AsyncSession, ctx: RequestContext, server_id: str, value: Any, request_id: str
) -> None:
    """Set the server's vm_state to ``active`` or ``error`` and clear its task."""
    target = _target_state(value)
    inst = await load_server(session, ctx, server_id, for_update=True)
    if not ctx.is_admin:
        raise APIError(
            403,
            "Policy doesn't allow os_compute_api:os-admin-actions:reset_state to be performed.",
        )
    session.add(
        reset_state(
            inst,
            RESET_STATES[target],
            request_id=request_id,
            user_id=ctx.user_id,
            project_id=ctx.project_id or "",
        )
    )
    await session.commit()
