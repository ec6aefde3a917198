"""What the random walk checks once the cloud settled: its invariants, and the history
of a server that broke one (see ``test_random_walk``)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from sqlalchemy import func, select

from stockyard.conductor.service import Conductor
from stockyard.db.models import (
    Allocation,
    Host,
    Instance,
    InstanceAction,
    InstanceActionEvent,
    InstanceFault,
    IPAllocation,
    Port,
    ServerGroup,
    ServerGroupMember,
    Volume,
    VolumeAttachment,
)
from tests.lifecycle.walk_harness import Harness

VOLUME_TRANSITIONAL = ["creating", "attaching", "detaching", "deleting", "reserved"]
ATTACHMENT_TRANSITIONAL = ["reserved", "attaching", "detaching"]


def _domain(host: Host, level: str) -> str:
    return {
        "host": host.name,
        "rack": f"{host.region}/{host.az}/{host.rack}",
        "az": f"{host.region}/{host.az}",
        "region": host.region,
    }[level]


async def server_history(h: Harness, uuids: list[str]) -> str:
    """The actions, events and faults of these servers, oldest first, one per line."""
    lines: list[str] = []
    async with h.cloud.state.db.session() as s:
        for uuid in sorted(set(uuids))[:3]:
            lines.append(f"  history of {uuid}:")
            rows = await s.execute(
                select(InstanceAction, InstanceActionEvent)
                .outerjoin(InstanceActionEvent, InstanceActionEvent.action_id == InstanceAction.id)
                .where(InstanceAction.instance_uuid == uuid)
                .order_by(InstanceAction.id, InstanceActionEvent.id)
            )
            for action, event in rows:
                ev = "" if event is None else f" {event.event} {event.result} {event.finish_time}"
                lines.append(f"    {action.start_time} {action.action}{ev}")
            for fault in await s.scalars(
                select(InstanceFault).where(InstanceFault.instance_uuid == uuid)
            ):
                lines.append(f"    {fault.created_at} fault: {fault.message}")
    return "\n".join(lines)


async def settle(h: Harness, conductor: Conductor, limit: float) -> float:
    """Wait until no server has a task, no port an interface op, no idle server a port
    revision its host has not applied, and a reconciler pass finds nothing; seconds."""
    db = h.cloud.state.db
    start = time.monotonic()
    quiet = 0
    while True:
        async with db.session() as s:
            busy = (
                await s.execute(
                    select(Instance.uuid, Instance.vm_state, Instance.task_state).where(
                        Instance.deleted.is_(False), Instance.task_state.is_not(None)
                    )
                )
            ).all()
            busy += (
                await s.execute(
                    select(Port.device_id, Port.iface_op, Port.status).where(
                        Port.iface_op.is_not(None)
                    )
                )
            ).all()
            busy += (
                await s.execute(
                    select(Volume.id, Volume.status, Volume.size).where(
                        Volume.status.in_(VOLUME_TRANSITIONAL)
                    )
                )
            ).all()
            busy += (
                await s.execute(
                    select(
                        VolumeAttachment.volume_id,
                        VolumeAttachment.attach_status,
                        VolumeAttachment.instance_uuid,
                    ).where(
                        VolumeAttachment.attach_status.in_(["reserved", "attaching", "detaching"])
                    )
                )
            ).all()
            busy += (
                await s.execute(
                    select(Instance.uuid, Instance.vm_state, Instance.ports_rev).where(
                        Instance.deleted.is_(False),
                        Instance.host.is_not(None),
                        Instance.vm_state.in_(["active", "stopped"]),
                        Instance.ports_rev > Instance.ports_synced_rev,
                    )
                )
            ).all()
        if not busy:
            if await conductor.reconciler.run_once() == 0:
                quiet += 1
                if quiet >= 3:
                    return time.monotonic() - start
            await asyncio.sleep(0.2)
            continue
        quiet = 0
        if time.monotonic() - start > limit:
            shown = ", ".join(f"{u[:8]} {vm}/{task}" for u, vm, task in busy[:20])
            raise AssertionError(f"{len(busy)} server(s) or port(s) still busy: {shown}")
        await asyncio.sleep(0.1)


async def check_invariants(h: Harness) -> list[str]:
    """Every broken invariant, as a readable line (empty when all hold)."""
    problems: list[str] = []
    async with h.cloud.state.db.session() as s:
        hosts = {x.name: x for x in (await s.execute(select(Host))).scalars()}
        by_id = {x.id: x for x in hosts.values()}
        rows = list((await s.execute(select(Instance))).scalars())
        allocs = list((await s.execute(select(Allocation))).scalars())
        ports = list((await s.execute(select(Port))).scalars())
        attachments = list((await s.execute(select(VolumeAttachment))).scalars())
        addresses = list((await s.execute(select(IPAllocation))).scalars())
        groups = list((await s.execute(select(ServerGroup))).scalars())
        members = (
            await s.execute(select(ServerGroupMember.group_id, ServerGroupMember.instance_uuid))
        ).all()
        newest = (
            select(InstanceAction.instance_uuid, func.max(InstanceAction.id).label("id"))
            .group_by(InstanceAction.instance_uuid)
            .subquery()
        )
        open_actions = (
            await s.execute(
                select(InstanceAction.instance_uuid, InstanceAction.action)
                .join(newest, newest.c.id == InstanceAction.id)
                .where(InstanceAction.finish_time.is_(None))
            )
        ).all()
    live = {r.uuid: r for r in rows if not r.deleted}
    for r in live.values():
        if r.task_state is not None or r.vm_state not in {"active", "stopped", "error"}:
            problems.append(f"server {r.uuid} left in {r.vm_state}/{r.task_state}")
    # os-instance-actions: no idle (or deleted) server shows its last action in progress.
    for uuid, action in open_actions:
        problems.append(f"server {uuid} is idle but its {action} action never finished")
    # Capacity: Host.*_used == sum of allocations == sum of flavors of live servers there.
    want: dict[str, list[int]] = {name: [0, 0, 0, 0] for name in hosts}
    for r in live.values():
        if r.host is None:
            continue
        f = r.flavor or {}
        disk = int(f.get("disk") or 0) + int(f.get("ephemeral") or 0)
        for i, v in enumerate((int(f.get("vcpus") or 0), int(f.get("ram") or 0), disk, 1)):
            want[r.host][i] += v
    held: dict[str, list[int]] = {name: [0, 0, 0, 0] for name in hosts}
    for a in allocs:
        name = by_id[a.host_id].name
        inst = live.get(a.instance_uuid)
        if inst is None or inst.host != name:
            where = "deleted" if inst is None else f"on {inst.host}"
            problems.append(f"allocation of {a.instance_uuid} on {name}, server is {where}")
        for i, v in enumerate((a.vcpus, a.memory_mb, a.disk_gb, 1)):
            held[name][i] += v
    for name, host in sorted(hosts.items()):
        used = [host.vcpus_used, host.memory_mb_used, host.local_gb_used, host.running_vms]
        if not used == held[name] == want[name]:
            problems.append(
                f"capacity leak on {name}: host columns (vcpus, ram, disk, vms) {used},"
                f" allocations {held[name]}, live servers' flavors {want[name]}"
            )
    for r in live.values():
        if r.host is not None and r.uuid not in {a.instance_uuid for a in allocs}:
            problems.append(f"server {r.uuid} placed on {r.host} holds no allocation")
    # Ports (and their addresses) live exactly as long as their server.
    port_device = {p.id: p.device_id for p in ports}
    for port in ports:
        if port.device_id not in live:
            problems.append(f"port {port.id} still held by deleted {port.device_id}")
    for addr in addresses:
        if port_device.get(addr.port_id) not in live:
            problems.append(f"address {addr.ip_address} still held by a deleted server's port")
    # Volumes: attached only to live servers; a guest holds no volume its server's rows
    # do not (a volume the cloud counts free while a guest still has it is a volume two
    # servers may write). The rows may say attached where the guest has none only after
    # a detach that failed or got no answer: then the volume stays in-use, with the
    # reason, for the user to detach again (Cinder's roll_detaching).
    for att in attachments:
        if att.instance_uuid not in live:
            problems.append(f"volume {att.volume_id} attached to deleted {att.instance_uuid}")
    for uuid, inst in live.items():
        if inst.host is None or inst.host not in h.drivers:
            continue
        guest = h.drivers[inst.host].guests.get(uuid)
        on_guest = set(guest.volumes) if guest is not None else set()
        rows_of = [a for a in attachments if a.instance_uuid == uuid]
        in_db = {a.volume_id for a in rows_of}
        explained = {a.volume_id for a in rows_of if a.status_reason}
        if guest is not None and (on_guest - in_db or in_db - on_guest - explained):
            problems.append(
                f"server {uuid}: guest has volumes {sorted(on_guest)}, rows say {sorted(in_db)}"
            )
    # Guests: none on a hypervisor for a deleted server or one placed elsewhere.
    for host, driver in sorted(h.drivers.items()):
        for uuid in sorted(driver.guests):
            inst = live.get(uuid)
            if inst is None or inst.host != host:
                where = "deleted" if inst is None else f"placed on {inst.host}"
                problems.append(f"guest {uuid} left on {host}, server is {where}")
    # Hard group policies over the group's live, placed members.
    by_group: dict[int, list[Instance]] = {}
    for gid, uuid in members:
        inst = live.get(uuid)
        if inst is not None and inst.host is not None:
            by_group.setdefault(gid, []).append(inst)
    for g in groups:
        level = (g.rules or {}).get("failure_domain") or "host"
        placed = by_group.get(g.id, [])
        domains = Counter(_domain(hosts[i.host], level) for i in placed if i.host)
        if g.policy == "anti-affinity":
            limit = 1
            if level == "host" and (g.rules or {}).get("max_server_per_host"):
                limit = int(g.rules["max_server_per_host"])
            over = {d: n for d, n in domains.items() if n > limit}
            if over:
                problems.append(f"group {g.name} (anti-affinity/{level}, {limit}): {over}")
        elif g.policy == "affinity" and len(domains) > 1:
            problems.append(f"group {g.name} (affinity/{level}) spread over {dict(domains)}")
    return problems


# -- the test ----------------------------------------------------------------------------
