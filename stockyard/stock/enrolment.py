"""Enrolling real baremetal nodes into the cloud, and removing them.

An operator brings a server the cloud does not know: its BMC (Redfish or IPMI), its
NICs' MACs, its place (region, availability zone, rack) and inventory. Enrolment is
all or nothing, in this order:

1. the cloud's own checks (region, unique name and MACs, the stock owner exists);
2. the region's hwmgr enrols the node (it keeps the BMC password encrypted) and
   *manages* it: the BMC must answer a power-state query with the credentials given,
   so a typo is a 400 naming the BMC now, not a failed deploy later;
3. the cloud's ``Host`` row (uuid = hwmgr's node uuid) joins its rack's aggregate.

A failure after step 2 deletes the hwmgr node again. A crash between 2 and 3 leaves a
hwmgr node that no host names; enrolling the same name again replaces it. The new host
counts as down until its baremetal agent reports it (the agent follows hwmgr's node
list), so nothing is scheduled onto a node no agent serves yet.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.db.base import Database, utcnow
from stockyard.db.models import AggregateHost, Allocation, Host, Project, Region
from stockyard.failure_domains import RackId, sync_rack_aggregates
from stockyard.stock.errors import StockConflict, StockInvalid, StockNotFound
from stockyard.stock.hwmgr_admin import HwmgrAdmin
from stockyard.stock.inventory import BAREMETAL, node_view

log = logging.getLogger(__name__)

# hwmgr states a leftover node can be deleted in (hwmgr refuses the others).
_REPLACEABLE = frozenset({"enrolled", "available", "error"})


@dataclass(frozen=True)
class Enrolment:
    """What the operator says about the node; ``bmc`` carries the password in clear
    only on its way to hwmgr (never stored, logged or returned by the cloud)."""

    name: str
    region: str
    availability_zone: str
    rack: str
    resource_class: str
    cpus: int
    memory_mb: int
    disk_gb: int
    macs: list[str]
    bmc: dict[str, Any]
    project_id: str | None = None

    def hwmgr_body(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "region": self.region,
            "az": self.availability_zone,
            "rack": self.rack,
            "resource_class": self.resource_class,
            "cpus": self.cpus,
            "memory_mb": self.memory_mb,
            "disk_gb": self.disk_gb,
            "macs": self.macs,
            "bmc": self.bmc,
        }


async def _check(s: AsyncSession, req: Enrolment) -> None:
    if await s.get(Region, req.region) is None:
        raise StockInvalid(f"region: unknown region {req.region}")
    if await s.scalar(select(Host.id).where(Host.name == req.name)) is not None:
        raise StockConflict(f"name: a hypervisor or node named {req.name} already exists")
    if req.project_id is not None and await s.get(Project, req.project_id) is None:
        raise StockInvalid(f"project_id: no project {req.project_id}")
    wanted = {m.lower() for m in req.macs}
    rows = await s.execute(select(Host.name, Host.macs).where(Host.macs.is_not(None)))
    for name, macs in rows:
        taken = wanted & {str(m).lower() for m in macs or ()}
        if taken:
            raise StockConflict(f"macs: {sorted(taken)[0]} is already a NIC of node {name}")


async def enroll(db: Database, hwmgr: HwmgrAdmin, req: Enrolment) -> dict[str, Any]:
    """Enrol the node (see the module docstring); returns its stock view."""
    async with db.session() as s:
        await _check(s, req)
    leftover = await hwmgr.find(req.region, req.name)
    if leftover is not None:
        # No host names it (checked above): an enrolment that stopped halfway.
        if leftover["provision_state"] not in _REPLACEABLE:
            raise StockConflict(
                f"name: the hardware manager has a node {req.name} that is"
                f" {leftover['provision_state']}; try again when it is done"
            )
        await hwmgr.delete(req.region, str(leftover["uuid"]))
    node = await hwmgr.enroll(req.region, req.hwmgr_body())
    node_uuid = str(node["uuid"])
    try:
        try:
            await hwmgr.manage(req.region, node_uuid)
        except StockInvalid as exc:
            raise StockInvalid(
                f"bmc: the BMC at {req.bmc.get('address')}:{req.bmc.get('port')} did not"
                f" answer a power-state query with these credentials: {exc}"
            ) from exc
        async with db.session() as s:
            await _check(s, req)  # again: another enrolment may have won meanwhile
            host = Host(
                uuid=node_uuid, name=req.name, kind=BAREMETAL, hypervisor_type="baremetal",
                region=req.region, az=req.availability_zone, rack=req.rack,
                resource_class=req.resource_class, macs=[m.lower() for m in req.macs],
                owner_project=req.project_id, vcpus=req.cpus, memory_mb=req.memory_mb,
                local_gb=req.disk_gb, cpu_allocation_ratio=1.0, ram_allocation_ratio=1.0,
                disk_allocation_ratio=1.0,
                # Down until its agent reports: nothing lands on a node nobody serves.
                last_seen=utcnow() - timedelta(days=1),
            )  # fmt: skip
            s.add(host)
            await s.flush()
            rack = RackId(req.region, req.availability_zone, req.rack)
            await sync_rack_aggregates(s, {req.name: rack})
            view = node_view(host, False)
    except BaseException:
        # All or nothing: the hwmgr node goes again, even if this request is cancelled.
        await asyncio.shield(_forget(hwmgr, req.region, node_uuid))
        raise
    log.info("node %s (%s) enrolled in %s/%s", node_uuid, req.name, req.availability_zone, req.rack)
    return view


async def _forget(hwmgr: HwmgrAdmin, region: str, node_uuid: str) -> None:
    try:
        await hwmgr.delete(region, node_uuid)
    except Exception:
        log.exception("node %s: could not delete it from hwmgr after a failed enrolment", node_uuid)


async def remove(db: Database, hwmgr: HwmgrAdmin, node_uuid: str) -> None:
    """Take a node out of the cloud and its hwmgr; 409 while it holds a server.

    The host is disabled first (the scheduler stops choosing it), then hwmgr deletes the
    node (it refuses while a task such as cleaning owns it: the host is enabled again
    and the caller told to retry), then the host row goes.
    """
    async with db.session() as s:
        host = await _node_for_update(s, node_uuid)
        region, name, status = host.region, host.name, host.status
        host.status = "disabled"
        host.disabled_reason = "being removed"
    try:
        await hwmgr.delete(region, node_uuid)
    except BaseException:
        async with db.session() as s:
            row = await s.scalar(select(Host).where(Host.uuid == node_uuid))
            if row is not None and row.disabled_reason == "being removed":
                row.status, row.disabled_reason = status, None
        raise
    async with db.session() as s:
        await _node_for_update(s, node_uuid)
        await s.execute(delete(AggregateHost).where(AggregateHost.host_name == name))
        await s.execute(delete(Host).where(Host.uuid == node_uuid))
    log.info("node %s (%s) removed", node_uuid, name)


async def _node_for_update(s: AsyncSession, node_uuid: str) -> Host:
    host = await s.scalar(
        select(Host).where(Host.uuid == node_uuid, Host.kind == BAREMETAL).with_for_update()
    )
    if host is None:
        raise StockNotFound(f"node {node_uuid} not found")
    used = await s.scalar(select(exists().where(Allocation.host_id == host.id)))
    if used or host.running_vms > 0:
        raise StockConflict(f"node {node_uuid} holds a server; delete the server first")
    return host
