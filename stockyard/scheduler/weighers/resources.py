"""Free-capacity weighers: spread (prefer most free) or, negated, pack."""

from __future__ import annotations

from collections.abc import Sequence

from stockyard.scheduler.context import SchedulingContext
from stockyard.scheduler.host_state import HostState
from stockyard.scheduler.request import RequestSpec
from stockyard.scheduler.weighers.base import HostWeigher


class RAMWeigher(HostWeigher):
    """Free RAM (MB, after the allocation ratio)."""

    follows_strategy = True

    def weigh(self, host: HostState, spec: RequestSpec, ctx: SchedulingContext) -> float:
        return host.free_memory_mb

    def weigh_all(
        self, hosts: Sequence[HostState], spec: RequestSpec, ctx: SchedulingContext
    ) -> list[float]:
        return [h.memory_mb * h.ram_allocation_ratio - h.memory_mb_used for h in hosts]


class CPUWeigher(HostWeigher):
    """Free vCPUs (after the allocation ratio)."""

    follows_strategy = True

    def weigh(self, host: HostState, spec: RequestSpec, ctx: SchedulingContext) -> float:
        return host.free_vcpus

    def weigh_all(
        self, hosts: Sequence[HostState], spec: RequestSpec, ctx: SchedulingContext
    ) -> list[float]:
        return [h.vcpus * h.cpu_allocation_ratio - h.vcpus_used for h in hosts]


class DiskWeigher(HostWeigher):
    """Free disk (GB, after the allocation ratio)."""

    follows_strategy = True

    def weigh(self, host: HostState, spec: RequestSpec, ctx: SchedulingContext) -> float:
        return host.free_disk_gb

    def weigh_all(
        self, hosts: Sequence[HostState], spec: RequestSpec, ctx: SchedulingContext
    ) -> list[float]:
        return [h.disk_gb * h.disk_allocation_ratio - h.disk_gb_used for h in hosts]
