"""The main database's side of the baremetal lab: ``Host`` rows and ``bm.*`` flavors.

Hosts are upserted by name like the hypervisors of ``stockyard.lab.enroll``: inventory
follows the lab file (and ``Host.uuid`` follows hwmgr's node uuid), while ``owner_project``
is only written when a node first appears, so stock assigned later through the stock API
survives restarts. Each node is kept in its rack's host aggregate
(``stockyard.failure_domains``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.db.models import Flavor, Host, Project, Quota
from stockyard.failure_domains import RackId, sync_rack_aggregates
from stockyard.lab.baremetal_model import BaremetalSpec, LabNode
from stockyard.lab.model import LabError
from stockyard.settings import Settings

HYPERVISOR_TYPE = "baremetal"
_FIELDS = (
    *("uuid", "kind", "region", "az", "rack", "resource_class"),
    *("vcpus", "memory_mb", "local_gb", "hypervisor_type", "macs"),
)


def flavor_name(resource_class: str) -> str:
    """``BM_GOLD`` -> ``bm.gold``; other classes -> ``bm.<class in lower case>``."""
    return "bm." + resource_class.lower().removeprefix("bm_").replace("_", "-")


async def project_ids(session: AsyncSession, names: set[str]) -> dict[str, str]:
    """Project ids by name; ``LabError`` naming the stock owners that do not exist."""
    if not names:
        return {}
    rows = await session.execute(select(Project.name, Project.id).where(Project.name.in_(names)))
    found = {name: pid for name, pid in rows}
    missing = sorted(names - set(found))
    if missing:
        raise LabError(f"baremetal stock: unknown project(s) {', '.join(missing)}")
    return found


def _values(node: LabNode, node_uuid: str) -> dict[str, Any]:
    return {
        "uuid": node_uuid,
        "kind": "baremetal",
        "region": node.region,
        "az": node.az,
        "rack": node.rack,
        "resource_class": node.resource_class,
        "vcpus": node.cpus,
        "memory_mb": node.memory_mb,
        "local_gb": node.disk_gb,
        "hypervisor_type": HYPERVISOR_TYPE,
        "macs": [node.mac.lower()],
    }


async def upsert_hosts(
    session: AsyncSession, nodes: list[LabNode], node_uuids: dict[str, str]
) -> int:
    """Insert or update one ``Host`` per node; returns how many rows were inserted."""
    owners = await project_ids(session, {n.stock for n in nodes if n.stock})
    wanted = {n.name: n for n in nodes}
    rows = await session.execute(
        select(Host.id, Host.name, *(getattr(Host, f) for f in _FIELDS)).where(
            Host.name.in_(list(wanted))
        )
    )
    present: set[str] = set()
    to_update: list[dict[str, Any]] = []
    for row in rows:
        present.add(row.name)
        values = _values(wanted[row.name], node_uuids[row.name])
        if any(getattr(row, f) != values[f] for f in _FIELDS):
            to_update.append({"id": row.id, **values})
    to_insert = [
        {
            "name": n.name,
            **_values(n, node_uuids[n.name]),
            "owner_project": owners.get(n.stock) if n.stock else None,
            # A whole node per instance: no over-commit.
            "cpu_allocation_ratio": 1.0,
            "ram_allocation_ratio": 1.0,
            "disk_allocation_ratio": 1.0,
        }
        for n in nodes
        if n.name not in present
    ]
    if to_insert:
        await session.execute(insert(Host), to_insert)
    if to_update:
        await session.execute(update(Host), to_update)
    # Nodes sit in their rack's host aggregate, as the hypervisors do.
    await sync_rack_aggregates(session, {n.name: RackId(n.region, n.az, n.rack) for n in nodes})
    await session.flush()
    return len(to_insert)


async def seed_stock_quota(session: AsyncSession, nodes: list[LabNode], settings: Settings) -> None:
    """Give each stock owner room for its whole stock on top of the default quota.

    A bm.gold server counts its node's cores and RAM (as in Nova), which the default
    limits of a VM project cannot hold. Only projects without an override get one: an
    admin's own setting is never replaced.
    """
    owners = await project_ids(session, {n.stock for n in nodes if n.stock})
    for name, project_id in owners.items():
        stock = [n for n in nodes if n.stock == name]
        extra = {
            "instances": len(stock),
            "cores": sum(n.cpus for n in stock),
            "ram": sum(n.memory_mb for n in stock),
        }
        have = set(
            (
                await session.scalars(
                    select(Quota.resource).where(
                        Quota.project_id == project_id, Quota.resource.in_(list(extra))
                    )
                )
            ).all()
        )
        for resource, amount in extra.items():
            if resource not in have:
                default = int(getattr(settings, f"quota_{resource}"))
                limit = default + amount
                session.add(Quota(project_id=project_id, resource=resource, hard_limit=limit))
    await session.flush()


async def seed_flavors(session: AsyncSession, spec: BaremetalSpec) -> list[str]:
    """One public flavor per resource class that has nodes; returns the names created."""
    used = {n.resource_class for n in spec.iter_nodes()}
    created = []
    for rc in sorted(used):
        name = flavor_name(rc)
        if await session.scalar(select(Flavor.id).where(Flavor.name == name)) is not None:
            continue
        inv = spec.classes[rc]
        session.add(
            Flavor(
                flavorid=name,
                name=name,
                vcpus=inv.cpus,
                ram=inv.memory_mb,
                disk=inv.disk_gb,
                description=f"A whole {rc} baremetal node",
                extra_specs={f"resources:CUSTOM_{rc}": "1"},
            )
        )
        created.append(name)
    await session.flush()
    return created
