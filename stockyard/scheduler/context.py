"""Per-request scheduling state shared by filters and weighers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

from stockyard.scheduler.host_state import FAILURE_DOMAIN_ATTR, FailureDomainLevel, HostState
from stockyard.scheduler.index import HostStateIndex
from stockyard.scheduler.request import GroupInfo, RequestSpec


@dataclass(slots=True)
class SchedulingContext:
    """State of one ``select`` call.

    Group member counts start from ``GroupInfo.member_hosts`` and grow as members of
    the batch are placed, so later members of the batch see the earlier ones.
    ``cache`` lets a filter or weigher compute per-request values once (keyed by its
    name) instead of once per host.
    """

    index: HostStateIndex
    group: GroupInfo | None = None
    level: FailureDomainLevel = "host"
    domain_counts: dict[str, int] = field(default_factory=dict)
    host_counts: dict[str, int] = field(default_factory=dict)
    cache: dict[str, Any] = field(default_factory=dict)
    domain_of: Callable[[HostState], str] = field(default=attrgetter("uuid"))
    #: Set by the engine before calling a filter's ``describe``: how many hosts passed
    #: that filter (0 means the filter rejected every host it saw).
    passed_count: int = 0

    @classmethod
    def for_request(cls, spec: RequestSpec, index: HostStateIndex) -> SchedulingContext:
        """Build the context for ``spec``, deriving domain counts from host states."""
        group = spec.group
        if group is None:
            return cls(index=index)
        level = group.failure_domain
        domain_of: Callable[[HostState], str] = attrgetter(FAILURE_DOMAIN_ATTR[level])
        ctx = cls(index=index, group=group, level=level, domain_of=domain_of)
        for host_uuid, count in group.member_hosts.items():
            if count <= 0:
                continue
            ctx.host_counts[host_uuid] = ctx.host_counts.get(host_uuid, 0) + count
            host = index.get(host_uuid)
            # A member on a host the scheduler no longer knows (decommissioned) has no
            # known domain; it cannot constrain placement, so it is ignored.
            if host is not None:
                key = domain_of(host)
                ctx.domain_counts[key] = ctx.domain_counts.get(key, 0) + count
        return ctx

    def member_count(self, host: HostState) -> int:
        """Group members already in ``host``'s failure domain."""
        return self.domain_counts.get(self.domain_of(host), 0)

    def add_member(self, host: HostState) -> None:
        """Count one more group member on ``host`` (no-op without a group)."""
        if self.group is None:
            return
        key = self.domain_of(host)
        self.domain_counts[key] = self.domain_counts.get(key, 0) + 1
        self.host_counts[host.uuid] = self.host_counts.get(host.uuid, 0) + 1

    def remove_member(self, host: HostState) -> None:
        """Undo :meth:`add_member` (batch rollback)."""
        if self.group is None:
            return
        key = self.domain_of(host)
        self.domain_counts[key] = self.domain_counts.get(key, 0) - 1
        self.host_counts[host.uuid] = self.host_counts.get(host.uuid, 0) - 1
