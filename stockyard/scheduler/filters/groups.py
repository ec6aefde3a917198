"""Hard server-group policies over a failure domain (host, rack, az or region)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from stockyard.scheduler.context import SchedulingContext
from stockyard.scheduler.filters.base import HostFilter, Narrowing
from stockyard.scheduler.host_state import FailureDomainLevel, HostState
from stockyard.scheduler.index import CandidateScope, HostStateIndex
from stockyard.scheduler.request import RequestSpec


def domain_label(level: FailureDomainLevel, key: str, index: HostStateIndex) -> str:
    """A user-facing name for a failure domain key, e.g. ``rack r2 (az1)``."""
    if level == "host":
        host = index.get(key)
        return f"host {host.name if host is not None else key}"
    parts = key.split("/")
    if level == "rack":
        return f"rack {parts[-1]} ({parts[1]})" if len(parts) == 3 else f"rack {key}"
    if level == "az":
        return f"az {parts[-1]}"
    return f"region {key}"


def _labels(
    level: FailureDomainLevel, keys: Iterable[str], index: HostStateIndex, most: int = 5
) -> str:
    ordered = sorted(keys)
    text = ", ".join(domain_label(level, k, index) for k in ordered[:most])
    return text + (f" and {len(ordered) - most} more" if len(ordered) > most else "")


def _in_az(ctx: SchedulingContext, key: str, spec: RequestSpec) -> bool:
    """Whether failure domain ``key`` lies in the requested AZ (any, without one)."""
    az = spec.availability_zone
    if az is None or ctx.level == "region":
        return True
    if ctx.level == "host":
        host = ctx.index.get(key)
        return host is None or host.az == az
    parts = key.split("/")
    return len(parts) > 1 and parts[1] == az


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


class ServerGroupAffinityFilter(HostFilter):
    """Hard affinity: every member in the same failure domain.

    With members already placed (before or earlier in the batch), only hosts in their
    domain pass; the first member of a new group may go anywhere.
    """

    reason = "outside the group's failure domain"
    per_instance = True

    def applies(self, spec: RequestSpec, ctx: SchedulingContext) -> bool:
        return ctx.group is not None and ctx.group.policy == "affinity"

    def narrow(
        self, scope: CandidateScope, spec: RequestSpec, ctx: SchedulingContext
    ) -> Narrowing | None:
        domains = [k for k, n in ctx.domain_counts.items() if n > 0]
        if not domains or ctx.group is None:
            return None
        reason = f"not in {_labels(ctx.level, domains, ctx.index)} with group {ctx.group.name}"
        if ctx.level == "host":
            scope.restrict_hosts(domains)
        elif len(domains) == 1:
            # rack "region/az/rack" and az "region/az" both pin a region and an AZ.
            parts = domains[0].split("/")
            scope.restrict_region(parts[0])
            if len(parts) > 1:
                scope.restrict_az(parts[1])
        return Narrowing(reason, complete=False)

    def host_passes(self, host: HostState, spec: RequestSpec, ctx: SchedulingContext) -> bool:
        counts = ctx.domain_counts
        if not any(n > 0 for n in counts.values()):
            return True
        return counts.get(ctx.domain_of(host), 0) > 0

    def filter_all(
        self, hosts: list[HostState], spec: RequestSpec, ctx: SchedulingContext
    ) -> list[HostState]:
        counts = ctx.domain_counts
        if not any(n > 0 for n in counts.values()):
            return hosts
        domain_of = ctx.domain_of
        return [h for h in hosts if counts.get(domain_of(h), 0) > 0]

    def describe(
        self, rejected: Sequence[HostState], spec: RequestSpec, ctx: SchedulingContext
    ) -> str:
        group = ctx.group
        domains = [k for k, n in ctx.domain_counts.items() if n > 0]
        if group is None or not domains:
            return self.reason
        return f"not in {_labels(ctx.level, domains, ctx.index)} with group {group.name}"


class ServerGroupAntiAffinityFilter(HostFilter):
    """Hard anti-affinity: at most one member per failure domain.

    With ``failure_domain="host"`` and ``max_server_per_host=N``, at most N members per
    host instead (Nova's ``max_server_per_host`` rule).
    """

    reason = "failure domain already holds a group member"
    per_instance = True

    def applies(self, spec: RequestSpec, ctx: SchedulingContext) -> bool:
        return ctx.group is not None and ctx.group.policy == "anti-affinity"

    @staticmethod
    def limit(ctx: SchedulingContext) -> int:
        """Members allowed per failure domain."""
        group = ctx.group
        if group is not None and ctx.level == "host" and group.max_server_per_host:
            return max(1, group.max_server_per_host)
        return 1

    def host_passes(self, host: HostState, spec: RequestSpec, ctx: SchedulingContext) -> bool:
        return ctx.domain_counts.get(ctx.domain_of(host), 0) < self.limit(ctx)

    def filter_all(
        self, hosts: list[HostState], spec: RequestSpec, ctx: SchedulingContext
    ) -> list[HostState]:
        counts = ctx.domain_counts
        if not counts:
            return hosts
        limit, domain_of = self.limit(ctx), ctx.domain_of
        return [h for h in hosts if counts.get(domain_of(h), 0) < limit]

    def describe(
        self, rejected: Sequence[HostState], spec: RequestSpec, ctx: SchedulingContext
    ) -> str:
        group = ctx.group
        if group is None:
            return self.reason
        level = ctx.level
        domains = {ctx.domain_of(h) for h in rejected}
        limit = self.limit(ctx)
        held = "a member" if limit == 1 else f"{limit} members"
        if ctx.passed_count:
            # Other domains were still open: this filter only removed some options.
            return (
                f"{held} of group {group.name} already in failure domain"
                f" {_labels(level, domains, ctx.index)}"
            )
        # A domain whose last free node went to a member of this group is one of the
        # group's domains too: without it, thin stock reads "only 1 rack" for two.
        domains.update(k for k, n in ctx.domain_counts.items() if n > 0 and _in_az(ctx, k, spec))
        if spec.resource_class is not None:
            what = f"free {spec.resource_class} stock"
        else:
            what = "a hypervisor with room"
        where = f" in {spec.availability_zone}" if spec.availability_zone else ""
        verb = "has" if len(domains) == 1 else "have"
        return (
            f"only {_plural(len(domains), level)} {verb} {what}{where} for group"
            f" {group.name}, and each already holds {held}:"
            f" {_labels(level, domains, ctx.index)}"
        )
