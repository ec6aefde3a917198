"""One placement pass: every batch of a burst scheduled in memory, claimed in one transaction.

A pass takes batches (one per create request, see :func:`~stockyard.placement.spec.batches`)
already leased by this placer, and in one transaction:

1. renews the leases and re-reads the rows (rows deleted meanwhile are let go);
2. takes the compare-and-swap lock of every server group involved, in uuid order, before
   any host is touched (a group whose lock is lost is retried, nothing of it written);
3. schedules batch after batch in memory; members that earlier batches of the same
   group were given count for the later ones, so a group's rule holds over the burst;
4. confirms every selection with a conditional UPDATE on its host (:func:`claims.claim_many`,
   host id order); a hard group that lost any claim gives back the others and is retried
   whole, other batches keep what they won and retry the rest;
5. per instance: the port step (:func:`ports.bind_ports`, a call of its own),
   then ``spawning`` with a new op lease; refusals fail with the scheduler's reasons.

The database stays the arbiter: a claim lost to another placer is a retry, never an
over-commit, whatever this process's memory believed.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.bus.base import Message
from stockyard.db.base import utcnow
from stockyard.db.models import Host, Instance, InstanceActionEvent, ServerGroup
from stockyard.db.retry import is_retryable
from stockyard.lifecycle import leases, records
from stockyard.lifecycle.messages import op_envelope
from stockyard.lifecycle.records import EV_BUILD, EV_SCHEDULE, move
from stockyard.lifecycle.states import TaskState, VmState
from stockyard.placement import boot_volumes, claims, events, ports
from stockyard.placement.context import FlowContext, new_op_id
from stockyard.placement.hoststate import HostStateCache
from stockyard.placement.spec import request_spec
from stockyard.scheduler import BatchResult, RequestSpec

log = logging.getLogger(__name__)

# A refusal ("No valid host") is only final on a host view at most this old: stock
# assigned, hosts enrolled or capacity freed since the last periodic reload would
# otherwise turn into errors the user cannot explain. Also bounds the reloads a burst
# of refusals can cause to about one per this many seconds.
FRESH_SECONDS = 1.0


# SQLite has one writer: a pass holds the writer gate from its first write to its
# commit, and API requests that write wait for it meanwhile (holding pooled connections).
# Measured on 2 busy cores: a 500-instance pass held it > 30 s and POSTs timed out on
# the pool. So on SQLite a burst is placed in passes of at most this many instances;
# server databases lock rows, not the database, and take a burst in one pass.
# 16, not 32 (bench_api's 200 creates from 50 clients, 3 runs each, with a probe GET
# every 10 ms): the 202's p99 went from 976-1,080 to 761-816 ms, for 0.2-0.3 s more to
# all ACTIVE (5.2-5.4 s against 5.5-5.7 s).
SQLITE_PASS_MAX = 16


def pass_limit(ctx: FlowContext) -> int:
    """Instances one pass (one transaction) may place on this database."""
    limit = ctx.settings.scheduler_burst_max
    return min(limit, SQLITE_PASS_MAX) if ctx.db.url.startswith("sqlite") else limit


def passes(batches: list[list[str]], limit: int) -> list[list[list[str]]]:
    """Whole batches grouped into passes of at most ``limit`` instances (a larger
    batch, one multi-create, is a pass of its own: its group must be placed at once)."""
    out: list[list[list[str]]] = []
    size = 0
    for batch in batches:
        if not out or size + len(batch) > limit:
            out.append([])
            size = 0
        out[-1].append(batch)
        size += len(batch)
    return out


@dataclass(slots=True)
class PassOutcome:
    """What a pass did, for the caller to act on after its commit."""

    ops: list[tuple[str, Message]] = field(default_factory=list)
    task_changed: list[str] = field(default_factory=list)
    #: Batches (or the part of a batch) to place again: lost claims, lost group locks.
    retry: list[list[str]] = field(default_factory=list)
    #: Batches refused on a host view older than ``FRESH_SECONDS``: reload, then retry.
    stale: list[list[str]] = field(default_factory=list)
    conflict_hosts: set[int] = field(default_factory=set)
    lock_lost: bool = False


@dataclass(slots=True)
class _Planned:
    rows: list[Instance]
    spec: RequestSpec
    result: BatchResult


async def place_pass(
    ctx: FlowContext, hosts: HostStateCache, batches: list[list[str]], recheck: bool
) -> PassOutcome:
    """Place ``batches`` (leased by ``ctx.conductor_id``) in one transaction.

    ``recheck``: a refusal on a host view older than ``FRESH_SECONDS`` is not final
    (the batch comes back in ``stale``). A retryable database error (deadlock,
    serialization) rolls the whole pass back and returns every batch in ``retry``.
    """
    selected: list[str] = []
    try:
        async with ctx.db.session() as s:
            return await _pass_in(ctx, hosts, s, batches, recheck, selected)
    except Exception as exc:
        # The transaction rolled back: claims made in memory must go too, or they
        # would count against capacity that nobody holds.
        for uuid in selected:
            ctx.scheduler.release(uuid)
        if not is_retryable(exc):
            raise
        log.info("placement transaction lost (%s); retrying", type(exc).__name__)
        await asyncio.sleep(random.uniform(0.05, 0.2))
        return PassOutcome(retry=[list(b) for b in batches])


async def _pass_in(
    ctx: FlowContext,
    hosts: HostStateCache,
    s: AsyncSession,
    batches: list[list[str]],
    recheck: bool,
    selected: list[str],
) -> PassOutcome:
    me = ctx.conductor_id
    wanted = [u for batch in batches for u in batch]
    # A write first: on SQLite this takes the write lock, so all reads below stay
    # current until commit (on other backends the claims' conditions guard).
    await leases.renew(s, wanted, TaskState.SCHEDULING, me, ctx.lease_until(utcnow()))
    rows = (
        await s.execute(
            select(Instance).where(
                Instance.uuid.in_(wanted),
                Instance.lease_owner == me,
                Instance.task_state == TaskState.SCHEDULING,
                Instance.deleted.is_(False),
            )
        )
    ).scalars()
    by_uuid = {r.uuid: r for r in rows}
    out = PassOutcome(task_changed=[u for u in wanted if u not in by_uuid])
    # Rows whose task changed under us (a delete): let their new task proceed.
    await leases.give_up(s, out.task_changed, me)
    live = [[by_uuid[u] for u in batch if u in by_uuid] for batch in batches]
    live = [rows for rows in live if rows]
    groups = await _lock_groups(s, live, out)
    planned = await _schedule(ctx, hosts, s, live, groups, recheck, out, selected)
    await _claim_and_spawn(ctx, s, planned, out)
    return out


async def _lock_groups(
    s: AsyncSession, live: list[list[Instance]], out: PassOutcome
) -> dict[str, ServerGroup | None]:
    """Lock the burst's groups in one order, before any host row: two placers never
    wait for each other's group while holding a host. Lost locks are left out."""
    locked: dict[str, ServerGroup | None] = {}
    for group_uuid in sorted({rows[0].group_uuid for rows in live if rows[0].group_uuid}):
        try:
            locked[group_uuid] = await claims.lock_group(s, group_uuid)
        except claims.GroupLockLost:
            # Another placer is placing members of this group right now: after it.
            out.lock_lost = True
    return locked


async def _schedule(
    ctx: FlowContext,
    hosts: HostStateCache,
    s: AsyncSession,
    live: list[list[Instance]],
    groups: dict[str, ServerGroup | None],
    recheck: bool,
    out: PassOutcome,
    selected: list[str],
) -> list[_Planned]:
    scheduler = ctx.scheduler
    planned: list[_Planned] = []
    # Group uuid -> host uuid -> members given to earlier batches of this pass.
    in_pass: dict[str, dict[str, int]] = {}
    for rows in live:
        group_uuid = rows[0].group_uuid
        if group_uuid and group_uuid not in groups:
            out.retry.append([r.uuid for r in rows])
            continue
        group = groups.get(group_uuid) if group_uuid else None
        members = in_pass.setdefault(group.uuid, {}) if group is not None else None
        spec = await request_spec(s, scheduler, rows, group, members)
        result = scheduler.select(spec)
        chosen = [sel.instance_uuid for sel in result.selections]
        selected.extend(chosen)
        if result.failures and recheck and hosts.age() > FRESH_SECONDS:
            for uuid in chosen:
                scheduler.release(uuid)
            out.stale.append([r.uuid for r in rows])
            continue
        if members is not None:
            for sel in result.selections:
                members[sel.host_uuid] = members.get(sel.host_uuid, 0) + 1
        planned.append(_Planned(rows, spec, result))
    return planned


async def _claim_and_spawn(
    ctx: FlowContext, s: AsyncSession, planned: list[_Planned], out: PassOutcome
) -> None:
    chosen_hosts = {sel.host_uuid for p in planned for sel in p.result.selections}
    host_rows = (
        {
            h.uuid: h
            for h in (await s.execute(select(Host).where(Host.uuid.in_(chosen_hosts)))).scalars()
        }
        if chosen_hosts
        else {}
    )
    requests = [
        claims.ClaimRequest(
            host.id,
            sel.instance_uuid,
            sel.claim.vcpus,
            sel.claim.memory_mb,
            sel.claim.disk_gb,
            sel.claim.whole_node,
        )
        for p in planned
        for sel in p.result.selections
        if (host := host_rows.get(sel.host_uuid)) is not None
    ]
    won = await claims.claim_many(s, requests) if requests else set()
    spawning: dict[str, str] = {}  # instance uuid -> host name
    for p in planned:
        by_uuid = {r.uuid: r for r in p.rows}
        placed: list[tuple[Instance, Host]] = []
        lost: list[str] = []
        for sel in p.result.selections:
            host = host_rows.get(sel.host_uuid)
            if host is not None and sel.instance_uuid in won:
                placed.append((by_uuid[sel.instance_uuid], host))
            else:
                lost.append(sel.instance_uuid)
                if host is not None:
                    out.conflict_hosts.add(host.id)
        if lost and p.spec.group is not None and p.spec.group.is_hard:
            # All or nothing: give back what this batch won, place it again whole.
            for inst, _host in placed:
                await claims.release(s, inst.uuid)
            for sel in p.result.selections:
                ctx.scheduler.release(sel.instance_uuid)
            out.retry.append([r.uuid for r in p.rows])
            continue
        for uuid in lost:
            ctx.scheduler.release(uuid)
        if lost:
            out.retry.append(lost)
        for inst, host in placed:
            # On SQLite a writing transaction's statements run in the loop's thread
            # (db.sqlite_onetrip) and never yield: without this, the port step of every
            # instance ran back to back and held every other request of the process
            # for the whole pass. Reads go on meanwhile; writes wait for the gate.
            # (bench_api: a GET during a 200-create burst, p99 270 -> 37 ms.)
            await asyncio.sleep(0)
            op = await to_spawning(ctx, s, inst, host)
            if op is not None:
                out.ops.append(op)
                spawning[inst.uuid] = host.name
        for uuid, exc in p.result.failures.items():
            await fail(s, by_uuid[uuid], str(exc))
    await events.finish_and_start(s, spawning, EV_SCHEDULE, EV_BUILD)


async def to_spawning(
    ctx: FlowContext, s: AsyncSession, inst: Instance, host: Host
) -> tuple[str, Message] | None:
    """Give the claimed instance its address and move it to ``spawning`` on ``host``;
    returns the spawn op to publish after commit (None: failed, no address left).

    The caller records the events (schedule done, build started) for the burst."""
    addresses = await address_step(ctx, s, inst, host)
    if addresses is None:
        return None
    try:
        volumes = await boot_volumes.reserve_for_spawn(ctx, s, inst, host)
    except boot_volumes.VolumesNotReady as exc:
        await claims.release(s, inst.uuid)
        ctx.scheduler.release(inst.uuid)
        await fail(s, inst, f"Build of instance {inst.uuid} aborted: {exc}")
        return None
    state = ctx.scheduler.index.get(host.uuid)
    inst.host = host.name
    inst.node = host.name
    inst.region = host.region
    inst.availability_zone = state.az if state is not None else host.az
    inst.rack = host.rack
    inst.addresses = addresses
    inst.access_ip_v4 = inst.access_ip_v4 or ""
    inst.attempts = (inst.attempts or 0) + 1
    move(inst, VmState.BUILDING, TaskState.SPAWNING)
    op_id = new_op_id()
    inst.lease_owner = leases.op_owner("spawn", op_id)
    inst.lease_expires = ctx.op_lease_until()
    topic, message = op_envelope(inst, "spawn", op_id)
    if volumes:
        message["instance"]["volumes"] = [v.model_dump() for v in volumes]  # type: ignore[index]
    return topic, message


async def address_step(
    ctx: FlowContext, s: AsyncSession, inst: Instance, host: Host
) -> dict[str, object] | None:
    """Create and bind the instance's ports on ``host`` (its addresses are their fixed
    IPs), one instance at a time (the per-instance network step of the build); None if
    it failed the instance. ``networks: "none"`` (Nova 2.37): no port, no address."""
    state = ctx.scheduler.index.get(host.uuid)
    try:
        await ports.bind_ports(s, inst, host, state.az if state is not None else host.az)
    except ports.BindFailed as exc:
        await claims.release(s, inst.uuid)
        ctx.scheduler.release(inst.uuid)
        if isinstance(exc, ports.PortQuotaExceeded):  # Nova's words for Neutron's refusal
            message = f"Failed to allocate the network(s) with error {exc}, not rescheduling."
        else:
            message = f"No valid host was found. {exc}"
        await fail(s, inst, message)
        return None
    return dict(inst.addresses or {})


async def fail(s: AsyncSession, inst: Instance, message: str) -> None:
    """Fail a build that found no host (the message says why, per filter)."""
    if inst.tried_hosts:
        # Rescheduled builds ran out of hosts: "No valid host" alone hides why the
        # builds failed (a BMC's or installer's message), so keep the last one.
        last = await _last_build_error(s, inst.uuid)
        if last:
            message = f"{message} Last build error: {last}"
    await records.fail_instance(s, inst, message, event=EV_SCHEDULE)


async def _last_build_error(s: AsyncSession, instance_uuid: str) -> str | None:
    """``"<error> (on <host>)"`` of the newest failed build event of the current action."""
    action = await records.current_action(s, instance_uuid)
    if action is None:
        return None
    row = (
        await s.execute(
            select(InstanceActionEvent.traceback, InstanceActionEvent.host)
            .where(
                InstanceActionEvent.action_id == action.id,
                InstanceActionEvent.event == EV_BUILD,
                InstanceActionEvent.result == "Error",
            )
            .order_by(InstanceActionEvent.id.desc())
            .limit(1)
        )
    ).first()
    if row is None or not row.traceback:
        return None
    error = str(row.traceback).splitlines()[0]
    return f"{error} (on {row.host})" if row.host else error
