"""Leases on volume and snapshot rows: Ironic's reservation as conditional UPDATEs.

A volume worker owns a row while ``lease_owner`` is its id and ``lease_expires`` is in the
future; a worker that died leaves a lease that expires, and any volume role's reconciler
takes the row over. Results are written only ``WHERE lease_owner = me``, so a worker whose
lease was taken over cannot overwrite the newer owner's outcome.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, update
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.db.base import execute_count
from stockyard.db.models import Volume, VolumeSnapshot

Row = type[Volume] | type[VolumeSnapshot]


async def acquire(
    session: AsyncSession,
    model: Row,
    row_id: str,
    status: str,
    owner: str,
    now: datetime,
    until: datetime,
) -> bool:
    """Take the row if it is in ``status`` and its lease is free or expired."""
    stmt = (
        update(model)
        .where(
            model.id == row_id,
            model.status == status,
            or_(model.lease_owner.is_(None), model.lease_expires < now),
        )
        .values(
            lease_owner=owner,
            lease_expires=until,
            task_started_at=func.coalesce(model.task_started_at, now),
        )
        .execution_options(synchronize_session=False)
    )
    return await execute_count(session, stmt) == 1


async def renew(
    session: AsyncSession, model: Row, row_id: str, owner: str, until: datetime
) -> bool:
    """Extend our lease; False when it was taken over (stop writing results)."""
    stmt = (
        update(model)
        .where(model.id == row_id, model.lease_owner == owner)
        .values(lease_expires=until)
        .execution_options(synchronize_session=False)
    )
    return await execute_count(session, stmt) == 1


async def finish(session: AsyncSession, model: Row, row_id: str, owner: str, **values: Any) -> bool:
    """Write the outcome and drop the lease, only if we still own the row."""
    stmt = (
        update(model)
        .where(model.id == row_id, model.lease_owner == owner)
        .values(lease_owner=None, lease_expires=None, task_started_at=None, **values)
        .execution_options(synchronize_session=False)
    )
    return await execute_count(session, stmt) == 1


async def remove(session: AsyncSession, model: Row, row_id: str, owner: str) -> bool:
    """Delete the row (a finished delete), only if we still own it."""
    stmt = (
        delete(model)
        .where(model.id == row_id, model.lease_owner == owner)
        .execution_options(synchronize_session=False)
    )
    return await execute_count(session, stmt) == 1
