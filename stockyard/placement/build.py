"""The build flow: lease -> schedule -> claim -> address -> spawn -> ACTIVE or reschedule.

One ``build`` message (a multi-create) is placed as one batch, in one transaction per
placement attempt: the scheduler proposes in memory, the database claims confirm, and
members of a server group are placed under the group's compare-and-swap lock so that
two conductors never make a placement that breaks the group's policy.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.bus import contract, reqid
from stockyard.bus.base import Message
from stockyard.compute.drivers.base import PowerState
from stockyard.db.base import utcnow
from stockyard.db.models import Host, Instance, InstanceActionEvent, ServerGroup
from stockyard.db.retry import is_retryable
from stockyard.lifecycle import leases, records
from stockyard.lifecycle.isolation import isolated
from stockyard.lifecycle.messages import op_envelope
from stockyard.lifecycle.records import EV_BUILD, EV_SCHEDULE, move
from stockyard.lifecycle.states import TaskState, VmState
from stockyard.placement import claims, network
from stockyard.placement.context import MAX_CLAIM_TRIES, FlowContext, new_op_id
from stockyard.placement.hoststate import HostStateCache
from stockyard.scheduler import GroupInfo, GroupPolicy, RequestSpec

log = logging.getLogger(__name__)

_POLICIES = {"affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity"}
_RC_PREFIX = "resources:CUSTOM_"


def resource_class_of(extra_specs: dict[str, str]) -> str | None:
    """Baremetal flavors ask for a whole node: ``resources:CUSTOM_BM_GOLD=1`` -> BM_GOLD."""
    for key, value in extra_specs.items():
        if key.startswith(_RC_PREFIX) and str(value).strip() not in ("", "0"):
            return key[len(_RC_PREFIX) :]
    return None


def _batch_key(inst: Instance) -> str:
    # Rows of one request share all of this; a reschedule differs by tried hosts.
    return json.dumps(
        [
            inst.flavor,
            inst.project_id,
            inst.requested_az,
            inst.forced_host,
            inst.group_uuid,
            sorted(inst.tried_hosts or []),
        ],
        sort_keys=True,
        default=str,
    )


def batches(rows: Iterable[Instance]) -> list[list[Instance]]:
    """Split leased rows into batches the scheduler can place with one RequestSpec."""
    out: dict[str, list[Instance]] = {}
    for row in rows:
        out.setdefault(_batch_key(row), []).append(row)
    return list(out.values())


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


class _StaleRefusal(Exception):
    """The scheduler said no on a host view older than ``FRESH_SECONDS``: look again."""


# A refusal ("No valid host") is only final on a host view at most this old: stock
# assigned, hosts enrolled or capacity freed since the last periodic reload would
# otherwise turn into errors the user cannot explain. Also bounds the reloads a burst
# of refusals can cause to about one per this many seconds.
FRESH_SECONDS = 1.0


class _HardGroupConflict(Exception):
    def __init__(self, host_ids: set[int]) -> None:
        super().__init__("hard group placement lost a claim race")
        self.host_ids = host_ids


@dataclass(slots=True)
class _Outcome:
    ops: list[tuple[str, Message]] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    conflict_hosts: set[int] = field(default_factory=set)
    task_changed: list[str] = field(default_factory=list)
    stale: bool = False


class BuildFlow:
    """Places and spawns instances in ``building/scheduling``; handles spawn results."""

    def __init__(self, ctx: FlowContext, hosts: HostStateCache) -> None:
        self.ctx = ctx
        self.hosts = hosts
        # Optimisation only: keeps one process from placing a row twice at once (the
        # lease already excludes other processes).
        self._busy: set[str] = set()
        # Called for rows whose task changed while we held them (a delete during
        # scheduling): their hint found them leased, so we pass them on at once.
        self.on_task_changed: Callable[[str], Awaitable[None]] | None = None
        # Set (to ``scheduler``) when placement runs in separate scheduler processes:
        # this flow then hands rows in ``scheduling`` over instead of placing them.
        self.forward_to: str | None = None

    async def handle_build(self, uuids: Sequence[str]) -> None:
        """Lease the rows still waiting for a host and place them, batch by batch."""
        if self.forward_to is not None:
            await self.forward(uuids)
            return
        wanted = [u for u in dict.fromkeys(uuids) if u not in self._busy]
        if not wanted:
            return
        self._busy.update(wanted)
        try:
            rows = await self._lease(wanted)
            for batch in batches(rows):
                uuids = [r.uuid for r in batch]
                # One broken batch must not keep the others of the message unplaced.
                await isolated(self.ctx.db, uuids, "placing it", self.place(uuids))
        finally:
            self._busy.difference_update(wanted)

    async def forward(self, uuids: Sequence[str]) -> None:
        """Hand rows waiting for a host to the scheduler role (a hint, as from the API)."""
        if uuids and self.forward_to is not None:
            hint = contract.BuildHint(instance_uuids=list(uuids), request_id=reqid.current())
            await self.ctx.bus.publish(self.forward_to, contract.encode(hint))

    async def _lease(self, uuids: list[str]) -> list[Instance]:
        now = utcnow()
        me = self.ctx.conductor_id
        async with self.ctx.db.session() as s:
            await leases.acquire(s, uuids, TaskState.SCHEDULING, me, now, self.ctx.lease_until(now))
            rows = list(
                (
                    await s.execute(
                        select(Instance)
                        .where(
                            Instance.uuid.in_(uuids),
                            Instance.lease_owner == me,
                            Instance.task_state == TaskState.SCHEDULING,
                        )
                        .order_by(Instance.launch_index, Instance.id)
                    )
                ).scalars()
            )
            for row in rows:
                await records.start_event(s, row.uuid, EV_SCHEDULE)
        return rows

    async def place(self, uuids: list[str]) -> None:
        """Schedule and claim ``uuids`` (leased by us), retrying lost claim races."""
        pending = uuids
        recheck = True
        for _ in range(MAX_CLAIM_TRIES):
            outcome = await self._place_once(pending, recheck)
            if outcome.stale:
                recheck = False
                await self.hosts.refresh()
                continue
            for topic, message in outcome.ops:
                await self.ctx.bus.publish(topic, message)
            if self.on_task_changed is not None:
                for uuid in outcome.task_changed:
                    await self.on_task_changed(uuid)
            if not outcome.conflicts:
                return
            for uuid in outcome.conflicts:
                self.ctx.scheduler.release(uuid)
            await self.hosts.refresh_hosts(outcome.conflict_hosts)
            pending = outcome.conflicts
        await self._fail_all(
            pending,
            "No valid host was found. Every host chosen was taken by concurrent builds"
            f" {MAX_CLAIM_TRIES} times in a row; retry later.",
        )

    async def _place_once(self, uuids: list[str], recheck: bool) -> _Outcome:
        selected: list[str] = []
        try:
            async with self.ctx.db.session() as s:
                return await self._place_in(s, uuids, selected, recheck)
        except _StaleRefusal:
            for uuid in selected:
                self.ctx.scheduler.release(uuid)
            return _Outcome(conflicts=list(uuids), stale=True)
        except claims.GroupLockLost:
            # Another conductor is placing members of this group right now; let it finish.
            await asyncio.sleep(random.uniform(0.01, 0.05))
            return _Outcome(conflicts=list(uuids))
        except _HardGroupConflict as exc:
            for uuid in selected:
                self.ctx.scheduler.release(uuid)
            return _Outcome(conflicts=list(uuids), conflict_hosts=exc.host_ids)
        except Exception as exc:
            # The transaction rolled back: claims made in memory must go too, or they
            # would count against capacity that nobody holds.
            for uuid in selected:
                self.ctx.scheduler.release(uuid)
            if not is_retryable(exc):
                raise
            log.info("placement transaction lost (%s); retrying", type(exc).__name__)
            await asyncio.sleep(random.uniform(0.05, 0.2))
            return _Outcome(conflicts=list(uuids))

    async def _place_in(
        self, s: AsyncSession, uuids: list[str], selected: list[str], recheck: bool
    ) -> _Outcome:
        me = self.ctx.conductor_id
        now = utcnow()
        # A write first: on SQLite this takes the write lock, so all reads below stay
        # current until commit (on other backends the claims' conditions guard).
        await leases.renew(s, uuids, TaskState.SCHEDULING, me, self.ctx.lease_until(now))
        rows = list(
            (
                await s.execute(
                    select(Instance)
                    .where(
                        Instance.uuid.in_(uuids),
                        Instance.lease_owner == me,
                        Instance.task_state == TaskState.SCHEDULING,
                        Instance.deleted.is_(False),
                    )
                    .order_by(Instance.launch_index, Instance.id)
                )
            ).scalars()
        )
        by_uuid = {r.uuid: r for r in rows}
        # Rows whose task changed under us (a delete): let their new task proceed.
        changed = [u for u in uuids if u not in by_uuid]
        await leases.give_up(s, changed, me)
        if not rows:
            return _Outcome(task_changed=changed)
        group = await claims.lock_group(s, rows[0].group_uuid) if rows[0].group_uuid else None
        spec = await self._spec(s, rows, group)
        result = self.ctx.scheduler.select(spec)
        selected.extend(sel.instance_uuid for sel in result.selections)
        if result.failures and recheck and self.hosts.age() > FRESH_SECONDS:
            raise _StaleRefusal()
        host_rows = {
            h.uuid: h
            for h in (
                await s.execute(
                    select(Host).where(Host.uuid.in_({x.host_uuid for x in result.selections}))
                )
            ).scalars()
        }
        outcome = _Outcome(task_changed=changed)
        placed: list[tuple[Instance, Host]] = []
        for sel in result.selections:
            host = host_rows.get(sel.host_uuid)
            c = sel.claim
            ok = host is not None and await claims.claim(
                s, host.id, sel.instance_uuid, c.vcpus, c.memory_mb, c.disk_gb,
                whole_node=c.whole_node,
            )  # fmt: skip
            if ok and host is not None:
                placed.append((by_uuid[sel.instance_uuid], host))
            else:
                outcome.conflicts.append(sel.instance_uuid)
                if host is not None:
                    outcome.conflict_hosts.add(host.id)
        if outcome.conflicts and spec.group is not None and spec.group.is_hard:
            raise _HardGroupConflict(outcome.conflict_hosts)
        for inst, host in placed:
            op = await self._to_spawning(s, inst, host)
            if op is not None:
                outcome.ops.append(op)
        for uuid, exc in result.failures.items():
            await self._fail(s, by_uuid[uuid], str(exc))
        return outcome

    async def _spec(
        self, s: AsyncSession, rows: list[Instance], group: ServerGroup | None
    ) -> RequestSpec:
        first = rows[0]
        flavor: dict[str, Any] = first.flavor or {}
        extra = {str(k): str(v) for k, v in (flavor.get("extra_specs") or {}).items()}
        info: GroupInfo | None = None
        if group is not None and group.policy in _POLICIES:
            rules = group.rules or {}
            members = await claims.group_member_hosts(s, group, [r.uuid for r in rows])
            member_hosts: dict[str, int] = {}
            for name, count in members.items():
                state = self.ctx.scheduler.index.by_name(name)
                if state is not None:
                    member_hosts[state.uuid] = member_hosts.get(state.uuid, 0) + count
            max_per_host = rules.get("max_server_per_host")
            info = GroupInfo(
                uuid=group.uuid,
                name=group.name,
                policy=cast(GroupPolicy, group.policy),
                failure_domain=rules.get("failure_domain") or "host",
                max_server_per_host=int(max_per_host) if max_per_host else None,
                member_hosts=member_hosts,
            )
        return RequestSpec(
            instance_uuids=[r.uuid for r in rows],
            project_id=first.project_id,
            vcpus=int(flavor.get("vcpus") or 0),
            memory_mb=int(flavor.get("ram") or 0),
            disk_gb=int(flavor.get("disk") or 0) + int(flavor.get("ephemeral") or 0),
            resource_class=resource_class_of(extra),
            extra_specs=extra,
            availability_zone=first.requested_az or None,
            forced_host=records.forced_spec(first.forced_host),
            group=info,
            ignore_hosts={str(h) for h in first.tried_hosts or []},
        )

    async def _to_spawning(
        self, s: AsyncSession, inst: Instance, host: Host
    ) -> tuple[str, Message] | None:
        # ``networks: "none"`` (Nova 2.37): no port, hence no address at all.
        wants_network = inst.requested_networks != []
        try:
            addr = (
                await network.allocate_address(s, host.region, inst.uuid) if wants_network else None
            )
        except network.AddressesExhausted as exc:
            await claims.release(s, inst.uuid)
            self.ctx.scheduler.release(inst.uuid)
            await self._fail(s, inst, f"No valid host was found. {exc}")
            return None
        state = self.ctx.scheduler.index.get(host.uuid)
        inst.host = host.name
        inst.node = host.name
        inst.region = host.region
        inst.availability_zone = state.az if state is not None else host.az
        inst.rack = host.rack
        inst.addresses = network.addresses_dict(addr.address, addr.mac) if addr else {}
        inst.access_ip_v4 = inst.access_ip_v4 or ""
        inst.attempts = (inst.attempts or 0) + 1
        move(inst, VmState.BUILDING, TaskState.SPAWNING)
        op_id = new_op_id()
        inst.lease_owner = leases.op_owner("spawn", op_id)
        inst.lease_expires = self.ctx.op_lease_until()
        await records.finish_event(s, inst.uuid, EV_SCHEDULE, True, host=host.name)
        await records.start_event(s, inst.uuid, EV_BUILD, host=host.name)
        return op_envelope(inst, "spawn", op_id)

    async def _fail(self, s: AsyncSession, inst: Instance, message: str) -> None:
        if inst.tried_hosts:
            # Rescheduled builds ran out of hosts: "No valid host" alone hides why the
            # builds failed (a BMC's or installer's message), so keep the last one.
            last = await _last_build_error(s, inst.uuid)
            if last:
                message = f"{message} Last build error: {last}"
        await records.fail_instance(s, inst, message, event=EV_SCHEDULE)

    async def _fail_all(self, uuids: list[str], message: str) -> None:
        me = self.ctx.conductor_id
        async with self.ctx.db.session() as s:
            rows = (
                await s.execute(
                    select(Instance).where(
                        Instance.uuid.in_(uuids),
                        Instance.lease_owner == me,
                        Instance.task_state == TaskState.SCHEDULING,
                    )
                )
            ).scalars()
            for inst in rows:
                await claims.release(s, inst.uuid)
                await self._fail(s, inst, message)

    async def on_spawn_result(self, msg: contract.OpResult) -> None:
        """ACTIVE on success; on failure reschedule elsewhere, or ERROR after max attempts."""
        uuid, op_id = msg.instance_uuid, msg.op_id
        me = self.ctx.conductor_id
        now = utcnow()
        reschedule = False
        freed: int | None = None
        async with self.ctx.db.session() as s:
            if not await leases.take_from_op(s, uuid, "spawn", op_id, me, self.ctx.lease_until()):
                log.debug("stale spawn result %s for %s ignored", op_id, uuid)
                return
            inst = (await s.execute(select(Instance).where(Instance.uuid == uuid))).scalar_one()
            host = msg.host or inst.host or ""
            if inst.task_state != TaskState.SPAWNING:
                await leases.give_up(s, [uuid], me)
                return
            if msg.ok:
                move(inst, VmState.ACTIVE, None)
                inst.power_state = msg.power_state or PowerState.RUNNING
                inst.launched_at = now
                network.apply_driver_view(inst, msg)
                records.clear_lease(inst)
                inst.task_started_at = None
                await records.finish_event(s, uuid, EV_BUILD, True, host=host)
                await records.finish_action(s, uuid)
                return
            error = msg.error or "unknown error"
            trace = "\n".join(x for x in (error, msg.details) if x)
            await records.finish_event(s, uuid, EV_BUILD, False, traceback=trace, host=host)
            alloc = await claims.release(s, uuid)
            freed = alloc.host_id if alloc is not None else None
            tried = list(dict.fromkeys([*(inst.tried_hosts or []), host]))
            inst.tried_hosts = tried
            inst.host = inst.node = None
            # A forced host is the admin's choice: never build elsewhere (as Nova).
            if inst.attempts < self.ctx.settings.max_build_attempts and not inst.forced_host:
                move(inst, VmState.BUILDING, TaskState.SCHEDULING)
                await records.start_event(s, uuid, EV_SCHEDULE)
                reschedule = True
                if self.forward_to is not None:
                    # A scheduler process will lease the row: ours must not block it.
                    records.clear_lease(inst)
            else:
                await records.fail_instance(
                    s,
                    inst,
                    f"Build of instance {uuid} aborted: {error} (tried hosts: {', '.join(tried)})",
                    f"Tried hosts ({inst.attempts} attempts): {', '.join(tried)}\n{trace}",
                )
        if freed is not None:
            await self.hosts.refresh_hosts([freed])
        if reschedule:
            await (self.forward([uuid]) if self.forward_to is not None else self.place([uuid]))
