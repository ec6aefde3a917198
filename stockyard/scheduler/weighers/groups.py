"""Soft server-group policies: preferences, never failures."""

from __future__ import annotations

from collections.abc import Sequence

from stockyard.scheduler.context import SchedulingContext
from stockyard.scheduler.host_state import HostState
from stockyard.scheduler.request import RequestSpec
from stockyard.scheduler.weighers.base import HostWeigher

# Per-host member counts break ties between hosts of equally loaded domains; scaling
# the domain count by this keeps the domain count strictly dominant.
_HOST_TIE_SCALE = 1024


class SoftAntiAffinityWeigher(HostWeigher):
    """Prefer failure domains with the fewest group members.

    The default multiplier outweighs the resource weighers, so the group spreads over
    as many domains as exist before any domain gets a second member; within equally
    used domains, hosts with fewer members win.
    """

    default_multiplier = 100.0

    def applies(self, spec: RequestSpec, ctx: SchedulingContext) -> bool:
        return ctx.group is not None and ctx.group.policy == "soft-anti-affinity"

    def weigh(self, host: HostState, spec: RequestSpec, ctx: SchedulingContext) -> float:
        on_host = min(ctx.host_counts.get(host.uuid, 0), _HOST_TIE_SCALE - 1)
        return -float(ctx.member_count(host) * _HOST_TIE_SCALE + on_host)

    def weigh_all(
        self, hosts: Sequence[HostState], spec: RequestSpec, ctx: SchedulingContext
    ) -> list[float]:
        if not ctx.domain_counts:
            return [0.0] * len(hosts)
        counts, per_host, domain_of = ctx.domain_counts, ctx.host_counts, ctx.domain_of
        top = _HOST_TIE_SCALE - 1
        return [
            -float(
                counts.get(domain_of(h), 0) * _HOST_TIE_SCALE + min(per_host.get(h.uuid, 0), top)
            )
            for h in hosts
        ]


class SoftAffinityWeigher(HostWeigher):
    """Prefer failure domains with the most group members."""

    default_multiplier = 100.0

    def applies(self, spec: RequestSpec, ctx: SchedulingContext) -> bool:
        return ctx.group is not None and ctx.group.policy == "soft-affinity"

    def weigh(self, host: HostState, spec: RequestSpec, ctx: SchedulingContext) -> float:
        return float(ctx.member_count(host))

    def weigh_all(
        self, hosts: Sequence[HostState], spec: RequestSpec, ctx: SchedulingContext
    ) -> list[float]:
        counts, domain_of = ctx.domain_counts, ctx.domain_of
        return [float(counts.get(domain_of(h), 0)) for h in hosts]
