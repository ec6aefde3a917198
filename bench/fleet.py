"""The synthetic fleets and requests shared by the scheduler benchmarks.

``bench/bench_scheduler.py`` times Stockyard's decisions over these hosts and
``bench/peers/bench_placement.py`` loads the very same hosts into OpenStack Placement,
so both sides of a comparison see one fleet (same seed, same usage, same aggregates).
"""

from __future__ import annotations

import random

from stockyard.scheduler import GroupInfo, HostState, RequestSpec

REGIONS = ("RegionOne", "RegionTwo")
AZS = ("az1", "az2", "az3")
FLAVORS = ((1, 2048, 20), (2, 4096, 40), (4, 8192, 80), (8, 16384, 160), (16, 65536, 320))
RESOURCE_CLASSES = ("BM_GOLD", "BM_SILVER", "BM_GPU")
PROJECTS = [f"project-{i}" for i in range(20)]


def hypervisors(count: int, racks_per_az: int, rng: random.Random) -> list[HostState]:
    hosts: list[HostState] = []
    per_rack = max(1, count // (len(REGIONS) * len(AZS) * racks_per_az))
    n = 0
    for region in REGIONS:
        for az in AZS:
            for r in range(racks_per_az):
                for _ in range(per_rack):
                    meta: dict[str, set[str]] = {}
                    names: set[str] = set()
                    if n % 4 == 0:
                        meta["ssd"] = {"true"}
                        names.add("ssd")
                    if n % 10 == 0:
                        meta["cpu_model"] = {"icelake,sapphire"}
                        names.add("fast")
                    used = rng.randrange(0, 48)
                    hosts.append(
                        HostState(
                            uuid=f"hv-{n}",
                            name=f"hv{n}.{region}",
                            region=region,
                            az=az,
                            rack=f"r{r}",
                            kind="vm",
                            vcpus=64,
                            memory_mb=262144,
                            disk_gb=2000,
                            vcpus_used=used,
                            memory_mb_used=used * 4096,
                            disk_gb_used=used * 20,
                            cpu_allocation_ratio=4.0,
                            aggregate_metadata=meta,
                            aggregate_names=names,
                            up=rng.random() > 0.01,
                        )
                    )
                    n += 1
    return hosts


def baremetal(count: int, racks_per_az: int, rng: random.Random) -> list[HostState]:
    nodes: list[HostState] = []
    per_rack = max(1, count // (len(REGIONS) * len(AZS) * racks_per_az))
    n = 0
    for region in REGIONS:
        for az in AZS:
            for r in range(racks_per_az):
                for _ in range(per_rack):
                    busy = rng.random() < 0.6
                    nodes.append(
                        HostState(
                            uuid=f"bm-{n}",
                            name=f"bm{n}.{region}",
                            region=region,
                            az=az,
                            rack=f"b{r}",
                            kind="baremetal",
                            resource_class=RESOURCE_CLASSES[n % len(RESOURCE_CLASSES)],
                            vcpus=48,
                            memory_mb=196608,
                            disk_gb=960,
                            owner_project=PROJECTS[(n // 7) % len(PROJECTS)],
                            instances={f"busy-{n}"} if busy else set(),
                        )
                    )
                    n += 1
    return nodes


def vm_spec(i: int, rng: random.Random, groups: list[GroupInfo]) -> RequestSpec:
    vcpus, ram, disk = rng.choice(FLAVORS)
    extra: dict[str, str] = {"hw:cpu_policy": "shared"}
    if i % 5 == 0:
        extra["aggregate_instance_extra_specs:ssd"] = "true"
    if i % 17 == 0:
        extra["cpu_model"] = "<in> icelake"
    group = rng.choice(groups) if i % 3 == 0 else None
    return RequestSpec(
        instance_uuids=[f"vm-{i}"],
        project_id=rng.choice(PROJECTS),
        vcpus=vcpus,
        memory_mb=ram,
        disk_gb=disk,
        extra_specs=extra,
        availability_zone=rng.choice(AZS),
        region=rng.choice(REGIONS),
        group=group,
    )


def bm_spec(i: int, rng: random.Random, groups: list[GroupInfo]) -> RequestSpec:
    return RequestSpec(
        instance_uuids=[f"bmi-{i}"],
        project_id=rng.choice(PROJECTS),
        resource_class=rng.choice(RESOURCE_CLASSES),
        availability_zone=rng.choice(AZS),
        region=rng.choice(REGIONS),
        group=rng.choice(groups) if i % 2 == 0 else None,
    )


def make_groups(prefix: str, n: int) -> list[GroupInfo]:
    return [
        GroupInfo(
            uuid=f"{prefix}-{g}", name=f"{prefix}{g}", policy="anti-affinity", failure_domain="rack"
        )
        for g in range(n)
    ]


def fleet_b(
    rng: random.Random, hypervisor_count: int = 10000, baremetal_count: int = 20000
) -> list[HostState]:
    """Case (b) of bench_scheduler: hypervisors then baremetal nodes, 40 racks per AZ."""
    return [*hypervisors(hypervisor_count, 40, rng), *baremetal(baremetal_count, 40, rng)]
