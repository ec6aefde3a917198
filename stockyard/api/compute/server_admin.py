"""Admin server actions (``os-resetState``, ``injectNetworkInfo``) and Nova's deferred
delete pair (``forceDelete``, ``restore``).

Nova's order: the body is validated first (400), then the server is looked up (404,
also for another project's server seen by a non-admin), then the policy (403).

Stockyard deletes at once (Nova's ``reclaim_instance_interval = 0``): no server is ever
``SOFT_DELETED``, so ``restore`` always meets Nova's state check's 409, and
``forceDelete`` is the plain delete Nova makes of it in any vm_state.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.api.compute.server_common import load_server, start_action
from stockyard.api.errors import APIError
from stockyard.identity.context import RequestContext
from stockyard.lifecycle.records import RESET_STATES, reset_state
from stockyard.network import port_sync

RESET_STATE = "os-resetState"
INJECT_NETWORK_INFO = "injectNetworkInfo"
FORCE_DELETE = "forceDelete"
RESTORE = "restore"


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


def _admin_only(ctx: RequestContext, rule: str) -> None:
    if not ctx.is_admin:
        raise APIError(403, f"Policy doesn't allow {rule} to be performed.")


async def inject_network_info(session: AsyncSession, ctx: RequestContext, server_id: str) -> None:
    """Have the server's host apply its ports again (addresses, rules), through the port
    sync that carries every port change: the debt is in the database, so a lost op is
    resent by the next pass."""
    inst = await load_server(session, ctx, server_id, for_update=True)
    _admin_only(ctx, "os_compute_api:os-admin-actions:inject_network_info")
    if not inst.host:
        raise APIError(409, f"Instance {inst.uuid} is not ready")
    await port_sync.membership_changed(session, [], [inst.uuid])
    await session.commit()


async def force_delete(
    session: AsyncSession, ctx: RequestContext, server_id: str, request_id: str
) -> str:
    """Nova's ``forceDelete``: a delete whatever the vm_state; returns the server's uuid."""
    inst = await load_server(session, ctx, server_id, for_update=True)
    start_action(session, ctx, inst, "delete", request_id)
    await session.commit()
    return inst.uuid


async def restore(session: AsyncSession, ctx: RequestContext, server_id: str) -> None:
    """Nova's ``restore`` accepts only ``SOFT_DELETED`` servers, which never exist here."""
    inst = await load_server(session, ctx, server_id)
    raise APIError(
        409, f"Cannot 'restore' instance {inst.uuid} while it is in vm_state {inst.vm_state}"
    )
