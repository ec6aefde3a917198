"""The benchmarks' shared fleet builder (bench/fleet.py) and its users still work.

Benchmarks are not asserted on their figures; these tests only prove the shared
builder gives what both the scheduler bench and the Placement peer bench rely on, and
that ``bench_scheduler.py --small`` still runs end to end. Nothing here needs the peer.
"""

from __future__ import annotations

import importlib
import random
import subprocess
import sys
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _bench_module(name: str, sub: str = "") -> ModuleType:
    for path in (BENCH, BENCH / sub):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))
    return importlib.import_module(name)


def test_fleet_b_is_deterministic_and_mixed() -> None:
    fleet = _bench_module("fleet")
    first = fleet.fleet_b(random.Random(2), 1000, 2000)
    again = fleet.fleet_b(random.Random(2), 1000, 2000)
    assert [(h.uuid, h.vcpus_used, h.up) for h in first] == [
        (h.uuid, h.vcpus_used, h.up) for h in again
    ]
    kinds = [h.kind for h in first]
    assert kinds.count("vm") == 960  # 4 per rack x 40 racks x 6 AZs
    assert kinds.count("baremetal") == 1920
    assert {h.resource_class for h in first if h.kind == "baremetal"} == {
        "BM_GOLD",
        "BM_SILVER",
        "BM_GPU",
    }


def test_bench_scheduler_small_runs() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH / "bench_scheduler.py"), "--small"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "cores:" in done.stdout
    assert "(b) 960 HV + 1,920 BM" in done.stdout


def test_placement_export_mirrors_host_states() -> None:
    """The peer bench gives Placement the same capacity, usage and groupings."""
    fleet = _bench_module("fleet")
    peer = _bench_module("bench_placement", "peers")
    hosts = fleet.fleet_b(random.Random(2), 1000, 2000)
    hv = next(h for h in hosts if h.kind == "vm" and h.vcpus_used and "ssd" in h.aggregate_names)
    rp = peer.provider(hv)
    assert rp["inventory"]["VCPU"] == [64, 4.0, 64]
    assert rp["used"]["MEMORY_MB"] == hv.memory_mb_used
    assert peer.agg(f"az:{hv.az_key}") in rp["aggregates"]
    assert peer.agg("meta:ssd") in rp["aggregates"]
    node = next(h for h in hosts if h.kind == "baremetal" and h.instances)
    rp = peer.provider(node)
    assert rp["inventory"] == {f"CUSTOM_{node.resource_class}": [1, 1.0, 1]}
    assert rp["used"] == {f"CUSTOM_{node.resource_class}": 1}
    assert peer.agg(f"project:{node.owner_project}") in rp["aggregates"]
    # Every case asks both sides: a Placement query and a Stockyard request.
    for case in peer.CASES:
        assert case.query(1).startswith("resources=")
        assert case.spec(1).instance_uuids
