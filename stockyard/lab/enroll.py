"""Write the lab's regions and hypervisors into the database, idempotently and in bulk.

Run at every start: new hosts are inserted, hosts whose inventory changed in the lab file
are updated, everything else is left alone. Each host is kept in its rack's host aggregate
(``stockyard.failure_domains``), created when missing. Claimed capacity (``*_used``), status and
hosts no longer in the file are never touched: a host may still carry instances.
A fleet of thousands costs a handful of statements, not one flush per row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.db.models import Host, Region
from stockyard.failure_domains import RackId, sync_rack_aggregates
from stockyard.lab.model import Lab, LabHypervisor
from stockyard.network import provider
from stockyard.settings import Settings

# Columns the lab file owns; enroll makes the row match them.
_HOST_FIELDS = (
    "kind",
    "region",
    "az",
    "rack",
    "vcpus",
    "memory_mb",
    "local_gb",
    "hypervisor_type",
    "cpu_allocation_ratio",
    "ram_allocation_ratio",
    "disk_allocation_ratio",
)


def _host_values(hv: LabHypervisor, settings: Settings) -> dict[str, Any]:
    return {
        "kind": "vm",
        "region": hv.region,
        "az": hv.az,
        "rack": hv.rack,
        "vcpus": hv.vcpus,
        "memory_mb": hv.memory_mb,
        "local_gb": hv.local_gb,
        "hypervisor_type": hv.hypervisor_type,
        "cpu_allocation_ratio": settings.cpu_allocation_ratio,
        "ram_allocation_ratio": settings.ram_allocation_ratio,
        "disk_allocation_ratio": settings.disk_allocation_ratio,
    }


async def _enroll_regions(session: AsyncSession, lab: Lab) -> None:
    existing = {r.id: r for r in (await session.scalars(select(Region))).all()}
    new_rows = []
    for spec in lab.regions:
        row = existing.get(spec.name)
        if row is None:
            new_rows.append({"id": spec.name, "description": spec.description, "cidr": spec.cidr})
        else:
            # Few regions: plain attribute changes are flushed as one UPDATE each.
            if row.cidr != spec.cidr:
                row.cidr = spec.cidr
            if spec.description and row.description != spec.description:
                row.description = spec.description
    if new_rows:
        await session.execute(insert(Region), new_rows)
    # Each region's flat provider network and subnet, as real Networking v2 resources.
    for spec in lab.regions:
        await provider.ensure(session, spec.name, spec.cidr)


async def enroll(
    session: AsyncSession, lab: Lab, settings: Settings, extra: Sequence[LabHypervisor] = ()
) -> list[Host]:
    """Upsert the lab's ``Region`` and ``Host`` rows; return the lab's hosts (by name order).

    ``extra``: hypervisors that are not in the lab file (this machine's libvirt host,
    ``stockyard.lab.libvirt_host``), enrolled the same way. The caller owns the
    transaction (``Database.session()`` commits on exit).
    """
    await _enroll_regions(session, lab)
    wanted = {hv.name: _host_values(hv, settings) for hv in (*lab.iter_hypervisors(), *extra)}

    rows = await session.execute(
        select(Host.id, Host.name, *(getattr(Host, f) for f in _HOST_FIELDS))
    )
    to_update: list[dict[str, Any]] = []
    present: set[str] = set()
    for row in rows:
        values = wanted.get(row.name)
        if values is None:
            continue
        present.add(row.name)
        if any(getattr(row, f) != values[f] for f in _HOST_FIELDS):
            to_update.append({"id": row.id, **values})

    to_insert = [{"name": n, **v} for n, v in wanted.items() if n not in present]
    if to_insert:
        # One executemany; SQLAlchemy batches it into multi-row INSERTs.
        await session.execute(insert(Host), to_insert)
    if to_update:
        # ORM bulk UPDATE by primary key: one executemany.
        await session.execute(update(Host), to_update)
    # One host aggregate per rack, so that admins read the racks through the compute API.
    await sync_rack_aggregates(
        session, {n: RackId(v["region"], v["az"], v["rack"]) for n, v in wanted.items()}
    )
    await session.flush()

    hosts = (await session.scalars(select(Host).order_by(Host.name))).all()
    return [h for h in hosts if h.name in wanted]
