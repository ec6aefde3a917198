"""Stockyard's scheduler decision vs OpenStack Placement's ``GET /allocation_candidates``.

Run: ``bench/peers/install-placement`` once, then
``.venv/bin/python bench/peers/bench_placement.py [--db postgresql mariadb] [--small]``.
Prints figures and the core count, asserts nothing. Nothing downloads here.

Both sides get the fleet of ``bench/bench_scheduler.py`` case (b) (10,000 hypervisors +
20,000 baremetal nodes, same seed, same usage), and the same request sequence:

* Placement 16 (PyPI ``openstack-placement``) runs its WSGI app on 127.0.0.1 on a fresh
  database, ``noauth2``; the fleet goes in with SQL (see ``placement_side.py``) and is
  checked through ``GET /resource_providers``. Timed: one HTTP request each, as Nova's
  scheduler sends them (``limit=1000`` = Nova's ``max_placement_results``).
* Stockyard: ``Scheduler.select`` in process (filters, weighers, the claim in memory);
  the claim is released untimed after each decision so every request sees the same fleet,
  as Placement's GET never changes it.
"""

from __future__ import annotations

import argparse
import gc
import http.client
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent.parent), str(HERE.parent)]

from fleet import AZS, PROJECTS, REGIONS, fleet_b  # noqa: E402

from stockyard.scheduler import HostState, HostStateIndex, RequestSpec, Scheduler  # noqa: E402

PEER_PY = HERE / ".venv" / "bin" / "python"
SIDE = HERE / "placement_side.py"
URLS = {
    "postgresql": "postgresql+psycopg2://postgres@127.0.0.1:5432/placement_bench",
    "mariadb": "mysql+pymysql://root@127.0.0.1:3306/placement_bench",
}
MICROVERSION = "placement 1.36"
LIMIT = 1000  # Nova's [scheduler] max_placement_results default
HV_TRAITS = ["HW_CPU_X86_AVX2", "COMPUTE_NET_ATTACH_INTERFACE", "COMPUTE_VOLUME_MULTI_ATTACH"]
NS = uuid.UUID("6f1c8f3e-5d1c-4f6e-9a51-0c0ffee00015")


def agg(key: str) -> str:
    """A stable aggregate uuid for a Stockyard grouping (AZ, rack, metadata, project)."""
    return str(uuid.uuid5(NS, key))


def provider(host: HostState) -> dict[str, object]:
    """One host as a Placement resource provider, the way Nova/Ironic would report it."""
    rp: dict[str, object] = {"uuid": str(uuid.uuid5(NS, host.uuid)), "name": host.name}
    aggs = [agg(f"az:{host.az_key}"), agg(f"rack:{host.rack_key}")]
    if host.kind == "vm":
        rp["inventory"] = {
            "VCPU": [host.vcpus, host.cpu_allocation_ratio, host.vcpus],
            "MEMORY_MB": [host.memory_mb, host.ram_allocation_ratio, host.memory_mb],
            "DISK_GB": [host.disk_gb, host.disk_allocation_ratio, host.disk_gb],
        }
        used = {
            "VCPU": host.vcpus_used,
            "MEMORY_MB": host.memory_mb_used,
            "DISK_GB": host.disk_gb_used,
        }
        rp["used"] = used if host.vcpus_used else {}
        aggs += [agg(f"meta:{name}") for name in sorted(host.aggregate_names)]
        # A down compute is left out by Nova's filters; in Placement terms, disabled.
        rp["traits"] = HV_TRAITS + ([] if host.up else ["COMPUTE_STATUS_DISABLED"])
    else:
        rc = f"CUSTOM_{host.resource_class}"
        rp["inventory"] = {rc: [1, 1.0, 1]}
        rp["used"] = {rc: 1} if host.instances else {}
        # Nova's tenant isolation in Placement: an aggregate per owning project.
        aggs.append(agg(f"project:{host.owner_project}"))
        rp["traits"] = []
    rp["aggregates"] = aggs
    return rp


def export(hosts: list[HostState], path: Path) -> None:
    providers = [provider(h) for h in hosts]
    aggs = sorted({a for rp in providers for a in rp["aggregates"]})  # type: ignore[attr-defined]
    classes = sorted({f"CUSTOM_{h.resource_class}" for h in hosts if h.kind == "baremetal"})
    traits = [*HV_TRAITS, "COMPUTE_STATUS_DISABLED"]
    fleet = {"providers": providers, "aggregates": aggs, "resource_classes": classes}
    path.write_text(json.dumps({**fleet, "traits": traits}))


class Case:
    """One request, as Placement query parameters and as a Stockyard RequestSpec."""

    def __init__(self, label: str, query: Callable[[int], str], spec: Callable[[int], RequestSpec]):
        self.label, self.query, self.spec = label, query, spec


def where(i: int) -> tuple[str, str, str]:
    return REGIONS[i % 2], AZS[i % 3], PROJECTS[i % len(PROJECTS)]


def vm(i: int, *, az: bool = False, ssd: bool = False) -> RequestSpec:
    region, zone, project = where(i)
    return RequestSpec(
        instance_uuids=[f"vm-{i}"],
        project_id=project,
        vcpus=2,
        memory_mb=4096,
        disk_gb=40,
        extra_specs={"aggregate_instance_extra_specs:ssd": "true"} if ssd else {},
        availability_zone=zone if az else None,
        region=region if az else None,
    )


def bm(i: int, *, az: bool = False) -> RequestSpec:
    region, zone, project = where(i)
    return RequestSpec(
        instance_uuids=[f"bm-{i}"],
        project_id=project,
        resource_class="BM_GOLD",
        availability_zone=zone if az else None,
        region=region if az else None,
    )


VM_RES = (
    f"resources=VCPU:2,MEMORY_MB:4096,DISK_GB:40&required=!COMPUTE_STATUS_DISABLED&limit={LIMIT}"
)
BM_RES = f"resources=CUSTOM_BM_GOLD:1&limit={LIMIT}"


def member_of(*keys: str) -> str:
    return "".join(f"&member_of={agg(k)}" for k in keys)


CASES = [
    Case("VM 2 vCPU, no AZ", lambda i: VM_RES, vm),
    Case(
        "VM + AZ",
        lambda i: VM_RES + member_of("az:{}/{}".format(*where(i))),
        lambda i: vm(i, az=True),
    ),
    Case(
        "VM + AZ + ssd aggregate",
        lambda i: VM_RES + member_of("az:{}/{}".format(*where(i)), "meta:ssd"),
        lambda i: vm(i, az=True, ssd=True),
    ),
    Case("BM_GOLD, no AZ", lambda i: BM_RES, bm),
    Case(
        "BM_GOLD + AZ + project",
        lambda i: BM_RES + member_of("az:{}/{}".format(*where(i)), f"project:{where(i)[2]}"),
        lambda i: bm(i, az=True),
    ),
]


def get(port: int, path: str) -> tuple[int, bytes]:
    # wsgiref answers HTTP/1.0 and closes: a connection per request, as it serves them.
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    headers = {"X-Auth-Token": "admin", "OpenStack-API-Version": MICROVERSION}
    conn.request("GET", path, headers={**headers, "Accept": "application/json"})
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp.status, body


def pct(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


class Timings:
    """One case's latencies on both sides and what each found."""

    def __init__(self) -> None:
        self.placement: list[float] = []
        self.stockyard: list[float] = []
        self.stockyard_cpu: list[float] = []  # the same decisions in thread CPU time
        self.candidates = 0  # allocation requests in Placement's last answer
        self.placed = 0  # Stockyard decisions that chose a host


def placement_once(port: int, case: Case, i: int, out: Timings) -> None:
    t0 = time.perf_counter()
    status, body = get(port, "/allocation_candidates?" + case.query(i))
    out.placement.append((time.perf_counter() - t0) * 1000)
    if status != 200:
        raise SystemExit(f"{case.label}: HTTP {status}: {body[:300]!r}")
    out.candidates = len(json.loads(body)["allocation_requests"])


def stockyard_once(scheduler: Scheduler, case: Case, i: int, out: Timings) -> None:
    spec = case.spec(i)
    c0, t0 = time.thread_time(), time.perf_counter()
    result = scheduler.select(spec)
    out.stockyard.append((time.perf_counter() - t0) * 1000)
    out.stockyard_cpu.append((time.thread_time() - c0) * 1000)
    out.placed += len(result.selections)
    for instance in spec.instance_uuids:
        scheduler.release(instance)


def time_case(port: int, scheduler: Scheduler, case: Case, n: int, per: int) -> Timings:
    """``n`` Placement requests, each followed by ``per`` Stockyard decisions.

    Interleaved so that the other tenants of a shared machine weigh on both sides alike.
    """
    print(f"  {case.label}: {n} requests / {n * per} decisions", file=sys.stderr, flush=True)
    out = Timings()
    placement_once(port, case, 0, out)  # warm caches and pools on both sides
    stockyard_once(scheduler, case, 0, out)
    out = Timings()
    for i in range(n):
        placement_once(port, case, i, out)
        # Let Placement's server and database finish after answering (freeing the
        # answer, logs): on 2 cores they would otherwise run during Stockyard's turn.
        time.sleep(0.02)
        for k in range(per):
            stockyard_once(scheduler, case, i * per + k, out)
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_placement(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    log = (workdir / "placement.log").open("wb")
    cmd = [str(PEER_PY), str(SIDE), "serve", str(workdir), str(port)]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    for _ in range(300):
        try:
            if get(port, "/")[0] == 200:
                return proc, port
        except OSError:
            time.sleep(0.2)
    proc.terminate()
    raise SystemExit(f"Placement did not start; see {workdir / 'placement.log'}")


def bench(db: str, hosts: list[HostState], n_placement: int, n_stockyard: int) -> None:
    workdir = Path(tempfile.mkdtemp(prefix=f"peer-placement-{db}-"))
    fleet_file = workdir / "fleet.json"
    export(hosts, fleet_file)
    side = [str(PEER_PY), str(SIDE)]
    subprocess.run([*side, "init", str(workdir), URLS[db]], check=True, capture_output=True)
    # Started before the load: its start-up syncs the standard classes and traits.
    proc, port = start_placement(workdir)
    try:
        t0 = time.perf_counter()
        subprocess.run([*side, "load", str(workdir), str(fleet_file)], check=True)
        print(f"[{db}] SQL load: {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        status, body = get(port, "/resource_providers")
        listed = len(json.loads(body)["resource_providers"])
        list_ms = (time.perf_counter() - t0) * 1000
        print(
            f"[{db}] REST check: GET /resource_providers -> {status},"
            f" {listed} providers ({list_ms:.0f} ms)"
        )
        floor = [(time.perf_counter(), get(port, "/"), time.perf_counter()) for _ in range(50)]
        floor_p50, _ = pct([(b - a) * 1000 for a, _, b in floor])
        scheduler = Scheduler(HostStateIndex(hosts))
        # As `stockyard up` does once started: host states live as long as the process.
        gc.collect()
        gc.freeze()
        per = max(1, n_stockyard // n_placement)
        rows = [(case, time_case(port, scheduler, case, n_placement, per)) for case in CASES]
        gc.unfreeze()
    finally:
        proc.terminate()
        proc.wait()
    print(
        f"\n[{db}] {len(hosts):,} hosts; per case {n_placement} Placement requests over HTTP"
        f" (GET / floor p50 {floor_p50:.1f} ms), {n_placement * per} Stockyard decisions"
        f" in process, interleaved; cores: {os.cpu_count()}"
    )
    # Wall-clock tails on a shared machine are mostly preemption: "cpu p99" is the same
    # Stockyard decisions in thread CPU time, what they cost. Placement's CPU is split
    # between its server and the database, so only its wall clock is given.
    head = f"{'request':<26}{'Placement p50/p99 ms':>22}{'cands':>7}{'Stockyard p50/p99 ms':>22}"
    print(head + f"{'cpu p99':>9}{'placed':>11}{'ratio p50':>11}{'ratio p99':>11}")
    for case, t in rows:
        (pp50, pp99), (sp50, sp99) = pct(t.placement), pct(t.stockyard)
        print(
            f"{case.label:<26}{f'{pp50:.1f} / {pp99:.1f}':>22}{t.candidates:>7}"
            f"{f'{sp50:.3f} / {sp99:.3f}':>22}{pct(t.stockyard_cpu)[1]:>9.3f}"
            f"{f'{t.placed}/{len(t.stockyard)}':>11}{pp50 / sp50:>10.0f}x{pp99 / sp99:>10.0f}x"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", nargs="+", choices=sorted(URLS), default=["postgresql"])
    parser.add_argument("--small", action="store_true", help="1/10 of the fleet, few requests")
    parser.add_argument("--requests", type=int, default=50, help="Placement requests per case")
    args = parser.parse_args()
    if not PEER_PY.exists():
        raise SystemExit("Placement is not installed: run bench/peers/install-placement first")
    scale = 10 if args.small else 1
    hosts = fleet_b(random.Random(2), 10000 // scale, 20000 // scale)
    for db in args.db:
        bench(db, hosts, max(3, args.requests // scale), 1000 // scale)
