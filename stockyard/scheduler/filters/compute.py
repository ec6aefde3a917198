"""Service state and location filters."""

from __future__ import annotations

from collections.abc import Sequence

from stockyard.scheduler.context import SchedulingContext
from stockyard.scheduler.filters.base import HostFilter, Narrowing
from stockyard.scheduler.host_state import HostState
from stockyard.scheduler.index import CandidateScope
from stockyard.scheduler.request import RequestSpec


class ComputeFilter(HostFilter):
    """Pass hosts that are enabled by the operator and whose agent is up."""

    reason = "disabled or down"

    def host_passes(self, host: HostState, spec: RequestSpec, ctx: SchedulingContext) -> bool:
        return host.enabled and host.up

    def filter_all(
        self, hosts: list[HostState], spec: RequestSpec, ctx: SchedulingContext
    ) -> list[HostState]:
        return [h for h in hosts if h.enabled and h.up]

    def describe(
        self, rejected: Sequence[HostState], spec: RequestSpec, ctx: SchedulingContext
    ) -> str:
        disabled = sum(1 for h in rejected if not h.enabled)
        down = len(rejected) - disabled
        if disabled and down:
            return f"{disabled} disabled, {down} down"
        return "disabled" if disabled else "agent down"


class AvailabilityZoneFilter(HostFilter):
    """Pass hosts in the requested availability zone (and region, if one is given).

    Entirely resolved by the index: only the requested AZ's buckets are listed.
    """

    reason = "not in the requested availability zone"

    def applies(self, spec: RequestSpec, ctx: SchedulingContext) -> bool:
        return spec.availability_zone is not None or spec.region is not None

    def narrow(
        self, scope: CandidateScope, spec: RequestSpec, ctx: SchedulingContext
    ) -> Narrowing | None:
        where: list[str] = []
        if spec.region is not None:
            scope.restrict_region(spec.region)
            where.append(f"region {spec.region}")
        if spec.availability_zone is not None:
            scope.restrict_az(spec.availability_zone)
            where.insert(0, spec.availability_zone)
        if not where:
            return None
        return Narrowing(f"not in {' / '.join(where)}")

    def host_passes(self, host: HostState, spec: RequestSpec, ctx: SchedulingContext) -> bool:
        if spec.region is not None and host.region != spec.region:
            return False
        return spec.availability_zone is None or host.az == spec.availability_zone
