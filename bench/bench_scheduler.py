"""Scheduler decision latency over large in-memory fleets.

Run: ``python bench/bench_scheduler.py [--small]``. Prints figures only, asserts nothing.

(a) 6,000 hypervisors (2 regions x 3 AZs x 25 racks x 40 hosts); 1,000 single-VM
    decisions: mixed flavors, some with aggregate extra specs, some in hard
    anti-affinity groups with the rack rule.
(b) 10,000 hypervisors + 20,000 baremetal nodes; a mix of VM and baremetal decisions
    with AZ + aggregate / stock + rack spread (the DESIGN.md budget: p99 <= 3.5 ms).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fleet import AZS, bm_spec, fleet_b, hypervisors, make_groups, vm_spec

from stockyard.scheduler import GroupInfo, HostStateIndex, NoValidHost, RequestSpec, Scheduler

# ``--small`` divides every size by this, so CI can prove the benchmark still runs.
SMALL = 10


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


def bench_a(scale: int = 1) -> None:
    rng = random.Random(1)
    index = HostStateIndex(hypervisors(6000 // scale, 25, rng))
    scheduler = Scheduler(index)
    groups = make_groups("web", 40)
    specs = [vm_spec(i, rng, groups) for i in range(1000 // scale)]
    t0 = time.perf_counter()
    times, failed = run(scheduler, specs)
    report(
        f"(a) {len(index):,} hypervisors, {len(specs):,} single-VM decisions",
        times,
        failed,
        time.perf_counter() - t0,
    )


def bench_b(scale: int = 1) -> None:
    rng = random.Random(2)
    t_build = time.perf_counter()
    index = HostStateIndex(fleet_b(rng, 10000 // scale, 20000 // scale))
    build_ms = (time.perf_counter() - t_build) * 1000
    print(f"(b) index of {len(index)} hosts built in {build_ms:.0f} ms")
    scheduler = Scheduler(index)
    vm_groups = make_groups("app", 50)
    bm_groups = make_groups("db", 50)
    specs = [
        vm_spec(i, rng, vm_groups) if i % 2 == 0 else bm_spec(i, rng, bm_groups)
        for i in range(2000 // scale)
    ]
    t0 = time.perf_counter()
    times, failed = run(scheduler, specs)
    total = time.perf_counter() - t0
    hv = sum(1 for h in index if h.kind == "vm")
    report(f"(b) {hv:,} HV + {len(index) - hv:,} BM, mixed decisions", times, failed, total)
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
    report(f"    VM decisions with no AZ (all {hv:,} hypervisors)", wide_times, wide_failed, 0)

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
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--small", action="store_true", help=f"every fleet and request count / {SMALL} (smoke run)"
    )
    scale = SMALL if parser.parse_args().small else 1
    print(f"cores: {os.cpu_count()}")
    bench_a(scale)
    bench_b(scale)
