"""The scheduler: filter, weigh, pick, and claim in memory, one batch at a time.

Per ``select`` call:

1. filters ``narrow`` an index scope (pool, AZ, forced host, affinity domain), so only
   the matching index buckets are listed; rejections are counted from bucket sizes;
   a wide VM request (more candidates than ``max_candidates``, no group, resource
   weighers only) lists just the hosts with the most free RAM (pack: the least that
   fits), from per-bucket sorted orders, and falls back to the whole scope only if
   none of them passes;
2. filters that do not depend on the batch's own placements run once per batch;
3. for each instance, in order: per-instance filters (capacity, hard group policy),
   weighing (normalised, Nova style), the best host is claimed in memory and counted
   toward the group.

The engine is synchronous and never blocks: a decision over tens of thousands of hosts
takes about a millisecond, so the conductor calls it straight from its event loop.
"""

from __future__ import annotations

import threading
from collections.abc import Collection
from dataclasses import dataclass, field

from stockyard.scheduler.context import SchedulingContext
from stockyard.scheduler.errors import NoValidHost, Rejection
from stockyard.scheduler.filters import HostFilter
from stockyard.scheduler.host_state import Claim, HostState
from stockyard.scheduler.index import CandidateScope, HostStateIndex
from stockyard.scheduler.registry import SchedulerConfig, build_filters, build_weighers
from stockyard.scheduler.request import RequestSpec
from stockyard.scheduler.weighers import HostWeigher, combine

# (filter, hosts it saw, hosts that passed): kept so that rejection reasons are only
# worked out on the failure path.
_Stage = tuple[HostFilter, list[HostState], list[HostState]]


@dataclass(frozen=True, slots=True)
class Selection:
    """Where one instance goes: the host and the capacity claimed on it in memory."""

    instance_uuid: str
    host_uuid: str
    host_name: str
    claim: Claim


@dataclass(slots=True)
class BatchResult:
    """Outcome of one ``select``: who got a host and who did not (and why).

    With a hard group policy the batch is all-or-nothing: either every instance has a
    selection or every instance has a failure (and nothing stays claimed).
    """

    selections: list[Selection] = field(default_factory=list)
    failures: dict[str, NoValidHost] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True if every instance of the batch was placed."""
        return not self.failures


@dataclass(slots=True)
class _Plan:
    considered: int
    narrowed: list[Rejection]
    static: list[_Stage]
    candidates: list[HostState]
    dynamic: list[HostFilter]
    #: Only the best-ranked part of the scope was listed (see ``_ram_ranking``).
    partial: bool = False


class Scheduler:
    """Places batches of instances on the hosts of a :class:`HostStateIndex`.

    Capacity is claimed in memory by :meth:`select` and given back by :meth:`release`;
    the caller confirms each claim in the database and releases it if that fails.
    A lock makes ``select``/``release`` safe to call from several threads.
    """

    def __init__(
        self, index: HostStateIndex | None = None, config: SchedulerConfig | None = None
    ) -> None:
        self.index = index if index is not None else HostStateIndex()
        self.config = config if config is not None else SchedulerConfig()
        self.filters: list[HostFilter] = build_filters(self.config)
        self.weighers: list[HostWeigher] = build_weighers(self.config)
        self._claims: dict[str, Claim] = {}
        self._lock = threading.RLock()

    # -- claims ---------------------------------------------------------------------

    def claim_of(self, instance_uuid: str) -> Claim | None:
        """The in-memory claim of ``instance_uuid``, if the scheduler holds one."""
        return self._claims.get(instance_uuid)

    def release(self, instance_uuid: str) -> Claim | None:
        """Give back the capacity held by ``instance_uuid``; return the claim, if any."""
        with self._lock:
            claim = self._claims.pop(instance_uuid, None)
            if claim is not None:
                host = self.index.get(claim.host_uuid)
                if host is not None:
                    host.release(claim)
                    self.index.reposition(host)
            return claim

    # -- selection ------------------------------------------------------------------

    def select(
        self, spec: RequestSpec, *, only_hosts: Collection[str] | None = None
    ) -> BatchResult:
        """Place every instance of ``spec``, in order, claiming capacity in memory.

        ``only_hosts`` restricts the candidates to these host uuids (for instance to
        claim an alternate after a failed build). An instance that already holds a
        claim has it released first: selecting again means rescheduling.
        """
        with self._lock:
            for uuid in spec.instance_uuids:
                self.release(uuid)
            ctx = SchedulingContext.for_request(spec, self.index)
            weighers = [w for w in self.weighers if w.multiplier and w.applies(spec, ctx)]
            plan = self._plan(spec, ctx, only_hosts, self._ram_ranking(spec, weighers))
            result = BatchResult()
            placed: list[tuple[HostState, Claim]] = []
            for position, uuid in enumerate(spec.instance_uuids):
                try:
                    try:
                        selection, host = self._place_one(uuid, spec, ctx, plan, weighers)
                    except NoValidHost:
                        if not plan.partial:
                            raise
                        # Nobody among the best-ranked hosts fits: look at all of them.
                        plan = self._plan(spec, ctx, only_hosts, None)
                        selection, host = self._place_one(uuid, spec, ctx, plan, weighers)
                except NoValidHost as exc:
                    if spec.group is not None and spec.group.is_hard:
                        self._rollback(placed, ctx)
                        err = exc.with_detail(self._group_detail(spec, position))
                        return BatchResult([], dict.fromkeys(spec.instance_uuids, err))
                    # Built-in per-instance filters only get stricter as the batch
                    # consumes capacity, so the rest of the batch would fail the same way.
                    for rest in spec.instance_uuids[position:]:
                        result.failures[rest] = exc
                    break
                placed.append((host, selection.claim))
                result.selections.append(selection)
            return result

    def _ram_ranking(self, spec: RequestSpec, weighers: list[HostWeigher]) -> bool | None:
        """For a request that may weigh a bounded candidate list: True to rank by most
        free RAM (spread), False by least (pack); None to scan every candidate.

        Only VM requests without a group whose weighers are all resource weighers with
        a RAM weigher among them: for those, free RAM is what ranks hosts first. Group,
        baremetal and plug-in weighers always see every candidate.
        """
        if self.config.max_candidates <= 0 or spec.group is not None:
            return None
        if spec.resource_class is not None or not weighers:
            return None
        if not all(w.follows_strategy for w in weighers):
            return None
        ram = [w.multiplier for w in weighers if w.name == "RAMWeigher"]
        return ram[0] > 0 if ram else None

    def _plan(
        self,
        spec: RequestSpec,
        ctx: SchedulingContext,
        only_hosts: Collection[str] | None,
        ram_ranking: bool | None,
    ) -> _Plan:
        filters = [f for f in self.filters if f.applies(spec, ctx)]
        scope = CandidateScope()
        considered = len(self.index)
        before = considered
        narrowed: list[Rejection] = []
        if only_hosts is not None:
            scope.restrict_hosts(only_hosts)
            after = self.index.count(scope)
            narrowed.append(Rejection("only_hosts", before - after, "not a requested host"))
            before = after
        complete: set[int] = set()
        for f in filters:
            narrowing = f.narrow(scope, spec, ctx)
            if narrowing is None:
                continue
            if narrowing.complete:
                complete.add(id(f))
            after = self.index.count(scope)
            narrowed.append(Rejection(f.name, before - after, narrowing.reason))
            before = after
        limit = self.config.max_candidates
        partial = ram_ranking is not None and scope.hosts is None and before > limit
        if partial:
            # ``before`` is the scope's size: too many to weigh them all (see _ram_ranking).
            hosts = self.index.by_free_ram(
                scope, limit, most_free=bool(ram_ranking), at_least=spec.memory_mb
            )
        else:
            hosts = self.index.select(scope)
        static: list[_Stage] = []
        dynamic: list[HostFilter] = []
        for f in filters:
            if id(f) in complete:
                continue
            if f.per_instance:
                dynamic.append(f)
                continue
            passed = f.filter_all(hosts, spec, ctx) if hosts else hosts
            static.append((f, hosts, passed))
            hosts = passed
        return _Plan(considered, narrowed, static, hosts, dynamic, partial)

    def _place_one(
        self,
        uuid: str,
        spec: RequestSpec,
        ctx: SchedulingContext,
        plan: _Plan,
        weighers: list[HostWeigher],
    ) -> tuple[Selection, HostState]:
        hosts = plan.candidates
        stages: list[_Stage] = []
        for f in plan.dynamic:
            if not hosts:
                break
            passed = f.filter_all(hosts, spec, ctx)
            stages.append((f, hosts, passed))
            hosts = passed
        if not hosts:
            raise self._no_valid_host(spec, ctx, plan, stages)
        if len(hosts) == 1 or not weighers:
            host = hosts[0]
        else:
            weights = combine(weighers, hosts, spec, ctx)
            # Only the best is needed: max is O(n) and keeps the first of equal weights,
            # so results are repeatable.
            host = hosts[max(range(len(hosts)), key=weights.__getitem__)]
        claim = host.make_claim(uuid, spec.vcpus, spec.memory_mb, spec.disk_gb)
        host.consume(claim)
        self.index.reposition(host)
        ctx.add_member(host)
        self._claims[uuid] = claim
        selection = Selection(uuid, host.uuid, host.name, claim)
        return selection, host

    def _rollback(self, placed: list[tuple[HostState, Claim]], ctx: SchedulingContext) -> None:
        for host, claim in reversed(placed):
            host.release(claim)
            self.index.reposition(host)
            ctx.remove_member(host)
            self._claims.pop(claim.instance_uuid, None)

    @staticmethod
    def _group_detail(spec: RequestSpec, position: int) -> str:
        group = spec.group
        assert group is not None
        total = len(spec.instance_uuids)
        return (
            f"Group {group.name} ({group.policy} over {group.failure_domain}) places"
            f" its {total} new members together: member {position + 1} of {total}"
            f" could not be placed, so none was."
        )

    def _no_valid_host(
        self,
        spec: RequestSpec,
        ctx: SchedulingContext,
        plan: _Plan,
        stages: list[_Stage],
    ) -> NoValidHost:
        rejections = list(plan.narrowed)
        for f, seen, passed in [*plan.static, *stages]:
            if len(seen) == len(passed):
                continue
            kept = set(passed)  # HostState hashes by identity
            rejected = [h for h in seen if h not in kept]
            ctx.passed_count = len(passed)
            rejections.append(Rejection(f.name, len(rejected), f.describe(rejected, spec, ctx)))
        return NoValidHost(plan.considered, rejections, subject=spec.describe())
