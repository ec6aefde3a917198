"""Scheduler decision latency over large in-memory fleets.

Run: ``python bench/bench_scheduler.py``. Prints figures only, asserts nothing.

(a) 6,000 hypervisors (2 regions x 3 AZs x 25 racks x 40 hosts); 1,000 single-VM
    decisions: mixed flavors, some with aggregate extra specs, some in hard
    anti-affinity groups with the rack rule.
(b) 10,000 hypervisors + 20,000 baremetal nodes; a mix of VM and baremetal decisions
    with AZ + aggregate / stock + rack spread (the DESIGN.md budget: p99 <= 3.5 ms).
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stockyard.scheduler import (
    GroupInfo,
    HostState,
    HostStateIndex,
    NoValidHost,
    RequestSpec,
    Scheduler,
)

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


def run(scheduler: Scheduler, specs: list[RequestSpec]) -> tuple[list[float], int]:
    times: list[float] = []
    failed = 0
    for spec in specs:
        t0 = time.perf_counter()
        result = scheduler.select(spec)
        times.append((time.perf_counter() - t0) * 1000.0)
        failed += len(result.failures)
        if spec.group is not None:
            # Members accumulate as the conductor would report them next time.
            for sel in result.selections:
                hosts = spec.group.member_hosts
                hosts[sel.host_uuid] = hosts.get(sel.host_uuid, 0) + 1
    return times, failed


def report(label: str, times: list[float], failed: int, total_s: float) -> None:
    ordered = sorted(times)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    print(
        f"{label}: n={len(times)} p50={p50:.3f} ms p99={p99:.3f} ms max={ordered[-1]:.3f} ms"
        f" total={total_s * 1000:.0f} ms (NoValidHost: {failed})"
    )


def bench_a() -> None:
    rng = random.Random(1)
    index = HostStateIndex(hypervisors(6000, 25, rng))
    scheduler = Scheduler(index)
    groups = make_groups("web", 40)
    specs = [vm_spec(i, rng, groups) for i in range(1000)]
    t0 = time.perf_counter()
    times, failed = run(scheduler, specs)
    report(
        "(a) 6,000 hypervisors, 1,000 single-VM decisions", times, failed, time.perf_counter() - t0
    )


def bench_b() -> None:
    rng = random.Random(2)
    t_build = time.perf_counter()
    index = HostStateIndex([*hypervisors(10000, 40, rng), *baremetal(20000, 40, rng)])
    build_ms = (time.perf_counter() - t_build) * 1000
    print(f"(b) index of {len(index)} hosts built in {build_ms:.0f} ms")
    scheduler = Scheduler(index)
    vm_groups = make_groups("app", 50)
    bm_groups = make_groups("db", 50)
    specs = [
        vm_spec(i, rng, vm_groups) if i % 2 == 0 else bm_spec(i, rng, bm_groups)
        for i in range(2000)
    ]
    t0 = time.perf_counter()
    times, failed = run(scheduler, specs)
    total = time.perf_counter() - t0
    report("(b) 10k HV + 20k BM, mixed decisions", times, failed, total)
    report("    VM decisions only", times[0::2], 0, 0)
    report("    baremetal decisions only", times[1::2], 0, 0)

    # One batch: 8 VMs in a hard rack anti-affinity group, placed together.
    batch_times: list[float] = []
    for b in range(100):
        spec = RequestSpec(
            instance_uuids=[f"batch-{b}-{k}" for k in range(8)],
            project_id="project-1",
            vcpus=2,
            memory_mb=4096,
            disk_gb=40,
            extra_specs={"ssd": "true"},
            availability_zone=AZS[b % 3],
            group=GroupInfo(
                uuid=f"g{b}", name=f"batch{b}", policy="anti-affinity", failure_domain="rack"
            ),
        )
        t1 = time.perf_counter()
        scheduler.select(spec)
        batch_times.append((time.perf_counter() - t1) * 1000.0)
    report("    8-member rack anti-affinity batches", batch_times, 0, 0)

    # Worst case: a VM request with no AZ at all walks every hypervisor.
    wide = [
        RequestSpec(
            instance_uuids=[f"wide-{i}"],
            project_id="project-2",
            vcpus=2,
            memory_mb=4096,
            disk_gb=40,
        )
        for i in range(100)
    ]
    wide_times, wide_failed = run(scheduler, wide)
    report("    VM decisions with no AZ (all 10,000 hypervisors)", wide_times, wide_failed, 0)

    # The failure path, building the message included.
    spec = RequestSpec(
        instance_uuids=["nx-1", "nx-2", "nx-3"],
        project_id="project-3",
        resource_class="BM_GOLD",
        availability_zone="az1",
        group=GroupInfo(uuid="gx", name="dbx", policy="anti-affinity", failure_domain="region"),
    )
    t2 = time.perf_counter()
    result = scheduler.select(spec)
    fail_ms = (time.perf_counter() - t2) * 1000
    print(f"    failing 3-member region-spread batch: {fail_ms:.3f} ms")
    for exc in list(result.failures.values())[:1]:
        assert isinstance(exc, NoValidHost)
        print(f"      -> {exc}")


if __name__ == "__main__":
    bench_a()
    bench_b()
