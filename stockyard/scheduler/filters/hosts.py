"""Admin host forcing and reschedule exclusions."""

from __future__ import annotations

from stockyard.scheduler.context import SchedulingContext
from stockyard.scheduler.filters.base import HostFilter, Narrowing
from stockyard.scheduler.host_state import HostState
from stockyard.scheduler.index import CandidateScope
from stockyard.scheduler.request import RequestSpec


def parse_forced_host(value: str) -> tuple[str | None, str | None]:
    """Split the admin ``"az:host"`` syntax (Nova's ``az:host:node``) into parts.

    Empty parts become None: ``"az1"`` -> (az1, None), ``":h1"`` -> (None, h1).
    """
    az, _, rest = value.partition(":")
    host = rest.split(":", 1)[0]
    return (az or None, host or None)


class ForcedHostFilter(HostFilter):
    """Pass only the host named in ``forced_host`` (other filters still apply).

    Unlike Nova, forcing does not bypass capacity or group checks: an admin can pick
    the host but cannot over-commit it or break a hard group policy.
    """

    reason = "not the forced host"

    def applies(self, spec: RequestSpec, ctx: SchedulingContext) -> bool:
        return bool(spec.forced_host)

    def _target(self, spec: RequestSpec) -> tuple[str | None, str | None]:
        return parse_forced_host(spec.forced_host or "")

    def narrow(
        self, scope: CandidateScope, spec: RequestSpec, ctx: SchedulingContext
    ) -> Narrowing | None:
        az, name = self._target(spec)
        if az is not None:
            scope.restrict_az(az)
        if name is None:
            return Narrowing(f"not in forced zone {az}") if az else None
        host = ctx.index.by_name(name) or ctx.index.get(name)
        scope.restrict_hosts([host.uuid] if host is not None else [])
        if host is None:
            return Narrowing(f"forced host {name} does not exist")
        return Narrowing(f"not the forced host {name}")

    def host_passes(self, host: HostState, spec: RequestSpec, ctx: SchedulingContext) -> bool:
        az, name = self._target(spec)
        if az is not None and host.az != az:
            return False
        return name is None or name in (host.name, host.uuid)


class IgnoreHostsFilter(HostFilter):
    """Reject hosts listed in ``ignore_hosts`` (by uuid or name), for reschedules."""

    reason = "excluded by reschedule"

    def applies(self, spec: RequestSpec, ctx: SchedulingContext) -> bool:
        return bool(spec.ignore_hosts)

    def host_passes(self, host: HostState, spec: RequestSpec, ctx: SchedulingContext) -> bool:
        return host.uuid not in spec.ignore_hosts and host.name not in spec.ignore_hosts

    def filter_all(
        self, hosts: list[HostState], spec: RequestSpec, ctx: SchedulingContext
    ) -> list[HostState]:
        ignored = spec.ignore_hosts
        return [h for h in hosts if h.uuid not in ignored and h.name not in ignored]
