"""What the server routes share: loading a visible server, view context, hints."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.api.compute.quota_engine import project_limits
from stockyard.api.compute.server_host_status import host_statuses
from stockyard.api.compute.server_views import ViewContext
from stockyard.api.errors import APIError
from stockyard.api.microversion import APIVersion
from stockyard.api.state import APIState
from stockyard.bus import contract
from stockyard.db.models import Instance, InstanceFault, ServerGroup, ServerGroupMember
from stockyard.identity.context import RequestContext
from stockyard.lifecycle.records import ActionRefused, begin_action


def view_context(state: APIState, ctx: RequestContext, version: APIVersion) -> ViewContext:
    return ViewContext(base_url=state.settings.base_url, version=version, is_admin=ctx.is_admin)


def request_id(request: Request) -> str:
    return str(getattr(request.state, "request_id", ""))


async def load_server(
    session: AsyncSession, ctx: RequestContext, server_id: str, *, for_update: bool = False
) -> Instance:
    """A server the caller may see; 404 otherwise (never reveals other projects' ids)."""
    query = select(Instance).where(Instance.uuid == server_id, Instance.deleted.is_(False))
    if not ctx.is_admin:
        query = query.where(Instance.project_id == ctx.project_id)
    if for_update:
        query = query.with_for_update()
    inst = await session.scalar(query)
    if inst is None:
        raise APIError(404, f"Instance {server_id} could not be found.")
    return inst


_FAULT = InstanceFault.__table__.c


async def latest_faults(session: AsyncSession, instance_uuids: list[str]) -> dict[str, Any]:
    """The newest fault of each instance, in one query: rows with the InstanceFault
    fields the views read (plain rows: a list may show a thousand faulted servers)."""
    if not instance_uuids:
        return {}
    conn = await session.connection()
    rows = await conn.execute(
        select(_FAULT.instance_uuid, _FAULT.code, _FAULT.message, _FAULT.details, _FAULT.created_at)
        .where(_FAULT.instance_uuid.in_(instance_uuids))
        .order_by(_FAULT.id)
    )
    return {fault.instance_uuid: fault for fault in rows}


async def hint_conductor(state: APIState, instance_uuid: str, rid: str) -> None:
    """Tell a conductor a task was written. A lost hint is found by the reconciler."""
    hint = contract.TaskHint(instance_uuid=instance_uuid, request_id=rid)
    await state.bus.publish(contract.CONDUCTOR, contract.encode(hint))


def ensure_unlocked(ctx: RequestContext, inst: Instance) -> None:
    """Nova's ``check_instance_lock``: a locked server refuses changes by non-admins.

    The one lock rule: ``start_action`` (every lifecycle action and delete) and the
    metadata writes call it; lock is an attribute, not a state of the lifecycle table.
    """
    if inst.locked and not ctx.is_admin:
        raise APIError(409, f"Instance {inst.uuid} is locked")


def start_action(
    session: AsyncSession, ctx: RequestContext, inst: Instance, key: str, rid: str
) -> None:
    """Start ``key`` of the lifecycle's ACTIONS on ``inst``, or raise Nova's 409."""
    ensure_unlocked(ctx, inst)
    try:
        row = begin_action(
            inst, key, request_id=rid, user_id=ctx.user_id, project_id=ctx.project_id or ""
        )
    except ActionRefused as exc:
        raise APIError(409, exc.message) from None
    if row is not None:
        session.add(row)


async def server_host_statuses(
    session: AsyncSession, vc: ViewContext, hosts: list[str | None]
) -> dict[str, str]:
    """``host_status`` per host for the servers about to be shown; no query when the
    caller will not see the field (non-admin, or before 2.16)."""
    if not (vc.is_admin and vc.version.at_least("2.16")):
        return {}
    return await host_statuses(session, hosts)


async def server_host_status(session: AsyncSession, vc: ViewContext, inst: Instance) -> str:
    """The ``host_status`` of one server (``""`` when the caller does not see it)."""
    return (await server_host_statuses(session, vc, [inst.host])).get(inst.host or "", "")


async def member_groups(session: AsyncSession, instance_uuid: str) -> list[str]:
    """The uuids of the server groups the server belongs to (Nova: at most one)."""
    rows = await session.scalars(
        select(ServerGroup.uuid)
        .join(ServerGroupMember, ServerGroupMember.group_id == ServerGroup.id)
        .where(ServerGroupMember.instance_uuid == instance_uuid)
    )
    return list(rows.all())


async def check_metadata_quota(
    state: APIState, session: AsyncSession, project_id: str, items: int
) -> None:
    """403 unless ``items`` metadata items fit the project's ``metadata_items`` limit.

    Checked against the server's project (Nova uses the caller's; for an admin editing
    another project's server, the owner's limit is the one that means something).
    """
    limit = (await project_limits(session, state.settings, project_id))["metadata_items"]
    if 0 <= limit < items:
        raise APIError(403, f"Maximum number of metadata items exceeds {limit}")
