"""Stock nodes: listing, counting, and an admin's direct assign/unassign."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, not_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.db.models import Allocation, Host, Project
from stockyard.stock.errors import StockConflict, StockInvalid, StockNotFound

BAREMETAL = "baremetal"


def in_use_clause() -> ColumnElement[bool]:
    """True for a node that holds an instance: an allocation row or a running count."""
    return or_(Host.running_vms > 0, exists().where(Allocation.host_id == Host.id))


@dataclass(frozen=True)
class NodeFilter:
    """Which baremetal nodes a listing covers. ``pool`` = unassigned nodes only."""

    project_id: str | None = None
    pool: bool = False
    resource_class: str | None = None
    availability_zone: str | None = None
    region: str | None = None
    rack: str | None = None
    in_use: bool | None = None

    def clauses(self) -> list[ColumnElement[bool]]:
        out: list[ColumnElement[bool]] = [Host.kind == BAREMETAL]
        if self.pool:
            out.append(Host.owner_project.is_(None))
        elif self.project_id is not None:
            out.append(Host.owner_project == self.project_id)
        for column, value in (
            (Host.resource_class, self.resource_class),
            (Host.az, self.availability_zone),
            (Host.region, self.region),
            (Host.rack, self.rack),
        ):
            if value is not None:
                out.append(column == value)
        if self.in_use is True:
            out.append(in_use_clause())
        elif self.in_use is False:
            out.append(not_(in_use_clause()))
        return out


async def list_nodes(session: AsyncSession, flt: NodeFilter) -> list[dict[str, Any]]:
    """Stock nodes matching ``flt``, ordered by name, as plain dicts."""
    stmt = (
        select(Host, in_use_clause().label("in_use"))
        .where(and_(*flt.clauses()))
        .order_by(Host.name)
    )
    rows = (await session.execute(stmt)).all()
    return [node_view(host, bool(used)) for host, used in rows]


def node_view(host: Host, in_use: bool) -> dict[str, Any]:
    return {
        "uuid": host.uuid,
        "name": host.name,
        "resource_class": host.resource_class,
        "region": host.region,
        "availability_zone": host.az,
        "rack": host.rack,
        "owner_project": host.owner_project,
        "status": host.status,
        "in_use": in_use,
    }


async def stock_summary(session: AsyncSession, flt: NodeFilter) -> dict[str, Any]:
    """Totals and per (resource_class, az, rack) counts: total, free, in_use."""
    groups: dict[tuple[str, str, str], dict[str, Any]] = {}
    totals = {"total": 0, "free": 0, "in_use": 0}
    for node in await list_nodes(session, flt):
        key = (node["resource_class"] or "", node["availability_zone"], node["rack"])
        group = groups.setdefault(
            key,
            {
                "resource_class": node["resource_class"],
                "region": node["region"],
                "availability_zone": node["availability_zone"],
                "rack": node["rack"],
                "total": 0,
                "free": 0,
                "in_use": 0,
            },
        )
        state = "in_use" if node["in_use"] else "free"
        for counts in (group, totals):
            counts["total"] += 1
            counts[state] += 1
    return {**totals, "groups": [groups[k] for k in sorted(groups)]}


async def project_exists(session: AsyncSession, project_id: str) -> bool:
    return await session.scalar(select(Project.id).where(Project.id == project_id)) is not None


async def _node(session: AsyncSession, node_uuid: str) -> tuple[Host, bool]:
    row = (
        await session.execute(
            select(Host, in_use_clause()).where(Host.uuid == node_uuid, Host.kind == BAREMETAL)
        )
    ).first()
    if row is None:
        raise StockNotFound(f"Baremetal node {node_uuid} could not be found.")
    return row[0], bool(row[1])


async def assign_node(session: AsyncSession, node_uuid: str, project_id: str) -> dict[str, Any]:
    """Give a free node to ``project_id``; idempotent for its current owner. Caller commits."""
    if not await project_exists(session, project_id):
        raise StockInvalid(f"project_id: project {project_id} does not exist.")
    host, used = await _node(session, node_uuid)
    if host.owner_project == project_id:
        return node_view(host, used)
    # Conditional so that a concurrent assign or approval cannot be overwritten.
    result = await session.execute(
        update(Host)
        .where(Host.id == host.id, Host.owner_project.is_(None), not_(in_use_clause()))
        .values(owner_project=project_id)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        await session.refresh(host)
        host, used = await _node(session, node_uuid)
        if host.owner_project not in (None, project_id):
            raise StockConflict(
                f"Node {node_uuid} is owned by another project ({host.owner_project})."
            )
        raise StockConflict(f"Node {node_uuid} is in use.")
    await session.refresh(host)
    return node_view(host, False)


async def unassign_node(session: AsyncSession, node_uuid: str) -> dict[str, Any]:
    """Return a node to the unassigned pool, unless it holds an instance. Caller commits."""
    host, _used = await _node(session, node_uuid)
    result = await session.execute(
        update(Host)
        .where(Host.id == host.id, not_(in_use_clause()))
        .values(owner_project=None)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise StockConflict(f"Node {node_uuid} is in use; delete its server first.")
    await session.refresh(host)
    return node_view(host, False)
