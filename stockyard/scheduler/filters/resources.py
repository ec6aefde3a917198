"""Capacity and baremetal stock filters."""

from __future__ import annotations

from collections.abc import Sequence

from stockyard.scheduler.context import SchedulingContext
from stockyard.scheduler.filters.base import HostFilter, Narrowing
from stockyard.scheduler.host_state import HostState
from stockyard.scheduler.index import CandidateScope
from stockyard.scheduler.request import RequestSpec


class ResourceFilter(HostFilter):
    """Pass hosts with room for one instance.

    VM flavors: a hypervisor with enough free vCPU, RAM and disk after allocation
    ratios. Baremetal flavors: a node of exactly the flavor's resource class with no
    instance on it (a node is never shared).
    """

    reason = "not enough capacity"
    per_instance = True

    def narrow(self, scope: CandidateScope, spec: RequestSpec, ctx: SchedulingContext) -> Narrowing:
        scope.restrict_pool(spec.kind, spec.resource_class)
        if spec.resource_class is None:
            return Narrowing("not a hypervisor", complete=False)
        return Narrowing(f"not a {spec.resource_class} node", complete=False)

    def host_passes(self, host: HostState, spec: RequestSpec, ctx: SchedulingContext) -> bool:
        if spec.resource_class is not None:
            return (
                host.kind == "baremetal"
                and host.resource_class == spec.resource_class
                and not host.instances
            )
        return (
            host.kind == "vm"
            and host.free_vcpus >= spec.vcpus
            and host.free_memory_mb >= spec.memory_mb
            and host.free_disk_gb >= spec.disk_gb
        )

    def filter_all(
        self, hosts: list[HostState], spec: RequestSpec, ctx: SchedulingContext
    ) -> list[HostState]:
        rc = spec.resource_class
        if rc is not None:
            return [
                h
                for h in hosts
                if not h.instances and h.resource_class == rc and h.kind == "baremetal"
            ]
        vcpus, ram, disk = spec.vcpus, spec.memory_mb, spec.disk_gb
        # Same arithmetic as the HostState.free_* properties, inlined: this comprehension
        # runs over thousands of hypervisors per decision and property calls dominate.
        return [
            h
            for h in hosts
            if h.memory_mb * h.ram_allocation_ratio - h.memory_mb_used >= ram
            and h.vcpus * h.cpu_allocation_ratio - h.vcpus_used >= vcpus
            and h.disk_gb * h.disk_allocation_ratio - h.disk_gb_used >= disk
            and h.kind == "vm"
        ]

    def describe(
        self, rejected: Sequence[HostState], spec: RequestSpec, ctx: SchedulingContext
    ) -> str:
        short: dict[str, int] = {}
        for h in rejected:
            if spec.resource_class is not None:
                rc_ok = h.kind == "baremetal" and h.resource_class == spec.resource_class
                what = "node in use" if rc_ok else f"not a {spec.resource_class} node"
            elif h.kind != "vm":
                what = "not a hypervisor"
            elif h.free_memory_mb < spec.memory_mb:
                what = "not enough RAM"
            elif h.free_vcpus < spec.vcpus:
                what = "not enough vCPU"
            else:
                what = "not enough disk"
            short[what] = short.get(what, 0) + 1
        if len(short) == 1:
            return next(iter(short))
        return ", ".join(f"{k}: {v}" for k, v in sorted(short.items(), key=lambda kv: -kv[1]))


class StockFilter(HostFilter):
    """Baremetal nodes go only to the project whose stock they are in.

    A node with no owner is in nobody's stock and is not schedulable. Hypervisors are
    shared and always pass.
    """

    reason = "not in the project's stock"

    def host_passes(self, host: HostState, spec: RequestSpec, ctx: SchedulingContext) -> bool:
        return host.kind == "vm" or host.owner_project == spec.project_id

    def filter_all(
        self, hosts: list[HostState], spec: RequestSpec, ctx: SchedulingContext
    ) -> list[HostState]:
        project = spec.project_id
        return [h for h in hosts if h.owner_project == project or h.kind == "vm"]

    def describe(
        self, rejected: Sequence[HostState], spec: RequestSpec, ctx: SchedulingContext
    ) -> str:
        unowned = sum(1 for h in rejected if h.owner_project is None)
        if unowned == len(rejected):
            return "not in any project's stock"
        return f"stock of another project than {spec.project_id}"
