"""Instance leases: Ironic's reservation, as conditional UPDATEs with row-count checks.

``lease_owner`` holds either a conductor id (that conductor is working on the row until
``lease_expires``) or ``op:<op>:<op_id>`` (an op was sent to an agent and only its result,
or the reconciler after expiry, may take the row back). Keeping the op id in the lease
makes stale or duplicated results harmless: they no longer match the owner.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, func, or_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from stockyard.db.base import execute_count
from stockyard.db.models import Instance
from stockyard.lifecycle.states import TaskState

OP_PREFIX = "op:"


def op_owner(op: str, op_id: str) -> str:
    """The ``lease_owner`` of an instance waiting for ``op`` number ``op_id``."""
    return f"{OP_PREFIX}{op}:{op_id}"


def _free(now: datetime, task_state: str) -> ColumnElement[bool]:
    free = or_(Instance.lease_owner.is_(None), Instance.lease_expires < now)
    if task_state == TaskState.DELETING:
        # A delete pre-empts any op in flight except another destroy: the user wants it
        # gone, whatever the agent is doing; the pending op's result will not match.
        free = or_(
            free,
            and_(
                Instance.lease_owner.like(f"{OP_PREFIX}%"),
                Instance.lease_owner.not_like(f"{OP_PREFIX}destroy:%"),
            ),
        )
    return free


async def acquire(
    session: AsyncSession,
    uuids: Sequence[str],
    task_state: str,
    owner: str,
    now: datetime,
    until: datetime,
) -> int:
    """Lease the rows of ``uuids`` whose task is ``task_state`` and whose lease is free.

    Returns how many rows were taken; callers re-read rows with ``lease_owner == owner``.
    ``task_started_at`` is set if the API did not, so that deadlines always apply.
    """
    if not uuids:
        return 0
    stmt = (
        update(Instance)
        .where(
            Instance.uuid.in_(list(uuids)),
            Instance.task_state == task_state,
            Instance.deleted.is_(False),
            _free(now, task_state),
        )
        .values(
            lease_owner=owner,
            lease_expires=until,
            task_started_at=func.coalesce(Instance.task_started_at, now),
        )
        .execution_options(synchronize_session=False)
    )
    return await execute_count(session, stmt)


async def take_from_op(
    session: AsyncSession, uuid: str, op: str, op_id: str, owner: str, until: datetime
) -> bool:
    """Take the row back from op ``op_id``; False means the result is stale: ignore it."""
    stmt = (
        update(Instance)
        .where(Instance.uuid == uuid, Instance.lease_owner == op_owner(op, op_id))
        .values(lease_owner=owner, lease_expires=until)
        .execution_options(synchronize_session=False)
    )
    return await execute_count(session, stmt) == 1


async def renew(
    session: AsyncSession, uuids: Sequence[str], task_state: str, owner: str, until: datetime
) -> int:
    """Extend our lease on rows still in ``task_state``; returns how many we still hold."""
    stmt = (
        update(Instance)
        .where(
            Instance.uuid.in_(list(uuids)),
            Instance.lease_owner == owner,
            Instance.task_state == task_state,
            Instance.deleted.is_(False),
        )
        .values(lease_expires=until)
        .execution_options(synchronize_session=False)
    )
    return await execute_count(session, stmt)


async def give_up(session: AsyncSession, uuids: Sequence[str], owner: str) -> None:
    """Drop our lease on rows we no longer work on (their task changed under us)."""
    if not uuids:
        return
    stmt = (
        update(Instance)
        .where(Instance.uuid.in_(list(uuids)), Instance.lease_owner == owner)
        .values(lease_owner=None, lease_expires=None)
        .execution_options(synchronize_session=False)
    )
    await execute_count(session, stmt)
