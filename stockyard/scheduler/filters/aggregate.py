"""Flavor extra specs against host aggregate metadata (Nova semantics)."""

from __future__ import annotations

from collections.abc import Sequence

from stockyard.scheduler.context import SchedulingContext
from stockyard.scheduler.filters.base import HostFilter
from stockyard.scheduler.filters.extra_specs import is_plain, match
from stockyard.scheduler.host_state import HostState
from stockyard.scheduler.request import RequestSpec

SCOPE = "aggregate_instance_extra_specs"

Requirements = tuple[tuple[str, str], ...]


def aggregate_requirements(extra_specs: dict[str, str]) -> Requirements:
    """The (metadata key, requirement) pairs this filter checks.

    As in Nova: keys scoped ``aggregate_instance_extra_specs:`` and unscoped keys
    count; keys with any other scope (``hw:``, ``resources:``, ``trait:`` ...) belong
    to other filters and are skipped.
    """
    out: list[tuple[str, str]] = []
    for key, req in sorted(extra_specs.items()):
        scope, sep, rest = key.partition(":")
        if not sep:
            out.append((key, req))
        elif scope == SCOPE and rest:
            out.append((rest, req))
    return tuple(out)


def _host_matches(metadata: dict[str, set[str]], reqs: Requirements) -> bool:
    for key, req in reqs:
        values = metadata.get(key)
        if not values or not any(match(v, req) for v in values):
            return False
    return True


class AggregateInstanceExtraSpecsFilter(HostFilter):
    """Pass hosts whose aggregates' metadata satisfies the flavor's extra specs.

    A host's metadata is the union over its aggregates (key -> set of values, comma-
    separated values split); one matching value per key is enough.
    """

    reason = "aggregate metadata does not match the flavor"

    def _reqs(self, spec: RequestSpec, ctx: SchedulingContext) -> Requirements:
        reqs: Requirements | None = ctx.cache.get(self.name)
        if reqs is None:
            reqs = ctx.cache[self.name] = aggregate_requirements(spec.extra_specs)
        return reqs

    def applies(self, spec: RequestSpec, ctx: SchedulingContext) -> bool:
        return bool(self._reqs(spec, ctx))

    def host_passes(self, host: HostState, spec: RequestSpec, ctx: SchedulingContext) -> bool:
        return _host_matches(host.aggregate_metadata, self._reqs(spec, ctx))

    def filter_all(
        self, hosts: list[HostState], spec: RequestSpec, ctx: SchedulingContext
    ) -> list[HostState]:
        reqs = self._reqs(spec, ctx)
        if not reqs:
            return hosts
        if all(is_plain(req) for _, req in reqs):
            # Exact matches only (the common case): a set lookup per key, no calls.
            if len(reqs) == 1:
                ((key, req),) = reqs
                return [h for h in hosts if req in h.aggregate_metadata.get(key, ())]
            return [
                h
                for h in hosts
                if all(req in h.aggregate_metadata.get(key, ()) for key, req in reqs)
            ]
        return [h for h in hosts if _host_matches(h.aggregate_metadata, reqs)]

    def describe(
        self, rejected: Sequence[HostState], spec: RequestSpec, ctx: SchedulingContext
    ) -> str:
        reqs = self._reqs(spec, ctx)
        missing: dict[str, int] = {}
        for h in rejected:
            for key, req in reqs:
                if not _host_matches(h.aggregate_metadata, ((key, req),)):
                    label = f"{key}={req}"
                    missing[label] = missing.get(label, 0) + 1
                    break
        if not missing:
            return self.reason
        top = sorted(missing, key=lambda k: -missing[k])
        return "no aggregate with " + ", ".join(top[:3])
