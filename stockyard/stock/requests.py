"""The stock request workflow: create, list, cancel, reject, approve (with rack spread).

Every decision is a conditional UPDATE on ``status='pending'``; approval also takes each
node with ``UPDATE hosts SET owner_project=:p WHERE id=:id AND owner_project IS NULL`` and
a row-count check, all in the caller's one transaction, so two admins approving competing
requests never hand out a node twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import not_, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.db.base import utcnow
from stockyard.db.models import Host, StockRequest
from stockyard.stock.errors import StockConflict, StockInvalid, StockNotFound
from stockyard.stock.inventory import BAREMETAL, in_use_clause
from stockyard.stock.spread import Candidate, pick_nodes

log = logging.getLogger(__name__)

PENDING = "pending"
STATUSES = (PENDING, "approved", "rejected", "cancelled")
APPROVE_ATTEMPTS = 8


class _NodeTaken(Exception):
    """A chosen node went to someone else between selection and UPDATE: select again."""


@dataclass(frozen=True)
class NewRequest:
    project_id: str
    user_id: str
    resource_class: str
    availability_zone: str
    count: int
    min_racks: int | None = None


async def create_request(session: AsyncSession, new: NewRequest) -> StockRequest:
    """A pending request; the AZ must hold hosts. Caller commits."""
    region = await session.scalar(
        select(Host.region).where(Host.az == new.availability_zone).limit(1)
    )
    if region is None:
        raise StockInvalid(
            f"availability_zone: unknown availability zone {new.availability_zone!r}."
        )
    req = StockRequest(
        project_id=new.project_id,
        user_id=new.user_id,
        resource_class=new.resource_class,
        availability_zone=new.availability_zone,
        region=region,
        count=new.count,
        min_racks=new.min_racks,
        status=PENDING,
        assigned_nodes=[],
    )
    session.add(req)
    await session.flush()
    return req


async def list_requests(
    session: AsyncSession, *, project_id: str | None, status: str | None
) -> list[StockRequest]:
    """Requests, newest first; ``project_id=None`` means every project (admin)."""
    stmt = select(StockRequest).order_by(StockRequest.id.desc())
    if project_id is not None:
        stmt = stmt.where(StockRequest.project_id == project_id)
    if status is not None:
        stmt = stmt.where(StockRequest.status == status)
    return list((await session.scalars(stmt)).all())


async def get_request(
    session: AsyncSession, request_id: str, *, project_id: str | None
) -> StockRequest:
    """One request; another project's id is reported as missing, never as forbidden."""
    stmt = select(StockRequest).where(StockRequest.uuid == request_id)
    if project_id is not None:
        stmt = stmt.where(StockRequest.project_id == project_id)
    req = await session.scalar(stmt)
    if req is None:
        raise StockNotFound(f"Stock request {request_id} could not be found.")
    return req


async def _decide(
    session: AsyncSession,
    request_id: str,
    *,
    project_id: str | None,
    status: str,
    decided_by: str,
    reason: str | None = None,
) -> None:
    """Move a pending request to ``status``; 404 if invisible, 409 if not pending."""
    stmt = update(StockRequest).where(
        StockRequest.uuid == request_id, StockRequest.status == PENDING
    )
    if project_id is not None:
        stmt = stmt.where(StockRequest.project_id == project_id)
    values: dict[str, object] = {"status": status, "decided_at": utcnow(), "decided_by": decided_by}
    if reason is not None:
        values["reason"] = reason
    result = await session.execute(
        stmt.values(**values).execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        current = await get_request(session, request_id, project_id=project_id)
        raise StockConflict(
            f"Stock request {request_id} is {current.status}; only a pending request "
            f"can become {status}."
        )


async def cancel_request(
    session: AsyncSession, request_id: str, *, project_id: str | None, user_id: str
) -> StockRequest:
    await _decide(
        session, request_id, project_id=project_id, status="cancelled", decided_by=user_id
    )
    return await _reload(session, request_id)


async def reject_request(
    session: AsyncSession, request_id: str, *, reason: str, admin_id: str
) -> StockRequest:
    await _decide(
        session, request_id, project_id=None, status="rejected", decided_by=admin_id, reason=reason
    )
    return await _reload(session, request_id)


async def _reload(session: AsyncSession, request_id: str) -> StockRequest:
    req = await get_request(session, request_id, project_id=None)
    await session.refresh(req)
    return req


async def _candidates(session: AsyncSession, req: StockRequest) -> list[Candidate]:
    rows = await session.execute(
        select(Host.id, Host.uuid, Host.name, Host.rack).where(
            Host.kind == BAREMETAL,
            Host.resource_class == req.resource_class,
            Host.az == req.availability_zone,
            Host.owner_project.is_(None),
            Host.status == "enabled",
            not_(in_use_clause()),
        )
    )
    return [Candidate(r.id, r.uuid, r.name, r.rack) for r in rows]


async def _approve_once(session: AsyncSession, request_id: str, admin_id: str) -> StockRequest:
    # The status UPDATE comes first: on SQLite it takes the write lock before any read, so
    # concurrent approvals queue instead of failing on a stale snapshot.
    await _decide(session, request_id, project_id=None, status="approved", decided_by=admin_id)
    req = await _reload(session, request_id)
    chosen = pick_nodes(
        await _candidates(session, req),
        req.count,
        req.min_racks,
        resource_class=req.resource_class,
        az=req.availability_zone,
    )
    # Ascending ids: competing approvals lock rows in one order, which avoids deadlocks.
    for node in sorted(chosen, key=lambda n: n.id):
        result = await session.execute(
            update(Host)
            .where(
                Host.id == node.id,
                Host.owner_project.is_(None),
                Host.status == "enabled",
                not_(in_use_clause()),
            )
            .values(owner_project=req.project_id)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise _NodeTaken(node.uuid)
    req.assigned_nodes = [n.uuid for n in chosen]
    await session.flush()
    return req


async def approve_request(session: AsyncSession, request_id: str, admin_id: str) -> StockRequest:
    """Assign ``count`` free pool nodes honouring the spread, all or nothing, and COMMIT.

    Commits itself because a lost race is retried from a rolled-back transaction; on a
    shortfall (``StockConflict``) everything is rolled back and the request stays pending.
    """
    for attempt in range(1, APPROVE_ATTEMPTS + 1):
        try:
            req = await _approve_once(session, request_id, admin_id)
            await session.commit()
            return req
        except (_NodeTaken, OperationalError) as exc:
            # OperationalError: a deadlock or lock timeout between competing approvals.
            await session.rollback()
            log.info("stock approval %s retried (attempt %d): %s", request_id, attempt, exc)
        except BaseException:
            await session.rollback()
            raise
    raise StockConflict(
        f"Stock request {request_id}: free nodes kept being taken concurrently; try again."
    )
