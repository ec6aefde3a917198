"""In-memory view of one schedulable host: a hypervisor or a baremetal node.

The scheduler keeps one :class:`HostState` per host in a :class:`HostStateIndex`;
placement decisions read and update these objects only, and the database merely
confirms the claim afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

HostKind = Literal["vm", "baremetal"]
FailureDomainLevel = Literal["host", "rack", "az", "region"]
FAILURE_DOMAIN_LEVELS: tuple[FailureDomainLevel, ...] = get_args(FailureDomainLevel)

# Attribute of HostState holding the qualified key of each failure-domain level. Hot
# loops use ``operator.attrgetter`` on these rather than calling ``failure_domain()``.
FAILURE_DOMAIN_ATTR: dict[FailureDomainLevel, str] = {
    "host": "uuid",
    "rack": "rack_key",
    "az": "az_key",
    "region": "region",
}


@dataclass(frozen=True, slots=True)
class Claim:
    """Resources one instance holds on one host, as recorded by the scheduler.

    ``whole_node`` claims (baremetal) take every resource of the node, whatever the
    flavor says, so that releasing them gives the node back in full.
    """

    instance_uuid: str
    host_uuid: str
    vcpus: int
    memory_mb: int
    disk_gb: int
    whole_node: bool = False


@dataclass(slots=True, eq=False)
class HostState:
    """Capacity, location and membership of one host.

    ``region``, ``az`` and ``rack`` are the host's identity in the failure-domain tree:
    to move a host, upsert a new ``HostState`` into the index rather than editing them
    in place (the index buckets and the cached domain keys depend on them).
    Usage counters may be edited in place (the compute agent's reports do that).
    """

    uuid: str
    name: str
    region: str
    az: str
    rack: str
    kind: HostKind
    vcpus: int
    memory_mb: int
    disk_gb: int
    resource_class: str | None = None
    vcpus_used: int = 0
    memory_mb_used: int = 0
    disk_gb_used: int = 0
    cpu_allocation_ratio: float = 1.0
    ram_allocation_ratio: float = 1.0
    disk_allocation_ratio: float = 1.0
    aggregate_metadata: dict[str, set[str]] = field(default_factory=dict)
    aggregate_names: set[str] = field(default_factory=set)
    enabled: bool = True
    up: bool = True
    owner_project: str | None = None
    instances: set[str] = field(default_factory=set)
    # Qualified failure-domain keys, so that rack "r1" of az1 and rack "r1" of az2 differ.
    rack_key: str = field(init=False, repr=False)
    az_key: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.refresh()

    def refresh(self) -> None:
        """Recompute derived data: failure-domain keys and split metadata values.

        Aggregate metadata values may be comma-separated (``"ssd,nvme"``); they are
        split once here so that filters test membership with a plain set lookup.
        """
        self.az_key = f"{self.region}/{self.az}"
        self.rack_key = f"{self.region}/{self.az}/{self.rack}"
        for key, values in self.aggregate_metadata.items():
            if any("," in v for v in values):
                self.aggregate_metadata[key] = {
                    part.strip() for v in values for part in v.split(",") if part.strip()
                }

    @property
    def free_vcpus(self) -> float:
        """vCPUs still allocatable, with the CPU allocation ratio applied."""
        return self.vcpus * self.cpu_allocation_ratio - self.vcpus_used

    @property
    def free_memory_mb(self) -> float:
        """RAM (MB) still allocatable, with the RAM allocation ratio applied."""
        return self.memory_mb * self.ram_allocation_ratio - self.memory_mb_used

    @property
    def free_disk_gb(self) -> float:
        """Disk (GB) still allocatable, with the disk allocation ratio applied."""
        return self.disk_gb * self.disk_allocation_ratio - self.disk_gb_used

    @property
    def pool(self) -> tuple[HostKind, str | None]:
        """The (kind, resource class) pool the host belongs to."""
        return (self.kind, self.resource_class)

    def failure_domain(self, level: FailureDomainLevel) -> str:
        """Key of the host's failure domain at ``level``, qualified by its parents.

        ``"host"`` gives the host uuid, ``"rack"`` ``"region/az/rack"``, ``"az"``
        ``"region/az"`` and ``"region"`` the region name.
        """
        if level == "host":
            return self.uuid
        if level == "rack":
            return self.rack_key
        if level == "az":
            return self.az_key
        if level == "region":
            return self.region
        raise ValueError(f"unknown failure-domain level {level!r}")

    def make_claim(self, instance_uuid: str, vcpus: int, memory_mb: int, disk_gb: int) -> Claim:
        """Build the claim an instance of this size would hold on this host."""
        if self.kind == "baremetal":
            return Claim(instance_uuid, self.uuid, self.vcpus, self.memory_mb, self.disk_gb, True)
        return Claim(instance_uuid, self.uuid, vcpus, memory_mb, disk_gb)

    def consume(self, claim: Claim) -> None:
        """Add ``claim`` to the host's usage (in memory only)."""
        if claim.host_uuid != self.uuid:
            raise ValueError(f"claim for host {claim.host_uuid} applied to {self.uuid}")
        self.vcpus_used += claim.vcpus
        self.memory_mb_used += claim.memory_mb
        self.disk_gb_used += claim.disk_gb
        self.instances.add(claim.instance_uuid)

    def release(self, claim: Claim) -> None:
        """Remove ``claim`` from the host's usage (in memory only).

        Usage never goes below zero: a host re-reported by its agent after the claim
        was made may already exclude it.
        """
        if claim.host_uuid != self.uuid:
            raise ValueError(f"claim for host {claim.host_uuid} released on {self.uuid}")
        self.vcpus_used = max(0, self.vcpus_used - claim.vcpus)
        self.memory_mb_used = max(0, self.memory_mb_used - claim.memory_mb)
        self.disk_gb_used = max(0, self.disk_gb_used - claim.disk_gb)
        self.instances.discard(claim.instance_uuid)
