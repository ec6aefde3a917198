"""What the conductor asks the scheduler to place."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from stockyard.scheduler.host_state import FailureDomainLevel, HostKind

GroupPolicy = Literal["affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity"]
HARD_POLICIES: frozenset[str] = frozenset({"affinity", "anti-affinity"})


@dataclass(slots=True)
class GroupInfo:
    """A server group (HA group) as the scheduler needs it.

    ``member_hosts`` maps host uuid -> number of the group's existing members on that
    host (members placed before this request). The scheduler derives rack/az/region
    counts from its own host states, so the caller never computes domains.
    """

    uuid: str
    name: str
    policy: GroupPolicy
    failure_domain: FailureDomainLevel = "host"
    max_server_per_host: int | None = None
    member_hosts: dict[str, int] = field(default_factory=dict)

    @property
    def is_hard(self) -> bool:
        """True for policies that must hold (placement fails rather than violate them)."""
        return self.policy in HARD_POLICIES


@dataclass(slots=True)
class RequestSpec:
    """One create request: a batch of identical instances (multi-create).

    ``resource_class`` set means a baremetal flavor that takes a whole node of that
    class; otherwise ``vcpus``/``memory_mb``/``disk_gb`` size a slice of a hypervisor.
    ``forced_host`` is the admin ``"az:host"`` syntax (either part may be empty).
    ``ignore_hosts`` holds host uuids or names to avoid (reschedule after a failure).
    """

    instance_uuids: list[str]
    project_id: str
    vcpus: int = 0
    memory_mb: int = 0
    disk_gb: int = 0
    resource_class: str | None = None
    extra_specs: dict[str, str] = field(default_factory=dict)
    availability_zone: str | None = None
    forced_host: str | None = None
    group: GroupInfo | None = None
    ignore_hosts: set[str] = field(default_factory=set)
    region: str | None = None

    @property
    def kind(self) -> HostKind:
        """The kind of host this request needs."""
        return "vm" if self.resource_class is None else "baremetal"

    def describe(self) -> str:
        """A short human summary of what is asked for, used in fault messages."""
        if self.resource_class is not None:
            what = f"a {self.resource_class} node"
        else:
            what = (
                f"an instance of {self.vcpus} vCPU, {self.memory_mb} MB RAM, {self.disk_gb} GB disk"
            )
        where = f" in {self.availability_zone}" if self.availability_zone else ""
        return f"{what}{where}"
