"""Baremetal creates at scale against ``stockyard up`` on emulated BMCs.

Run: ``.venv/bin/python bench/bench_baremetal.py [--nodes 200 1000] [--clients 100]``.
Prints figures only, asserts nothing; not run by the tests.

Each run starts a fresh ``stockyard up`` whose lab has N baremetal nodes (half behind
the sushy-tools Redfish emulator, half behind IPMI emulators, zero install time, all in
the admin project's stock), then creates N ``bm.gold`` servers at once and waits until
every one is ACTIVE or ERROR. Per phase, from the databases (the instance action events
and, for hwmgr, the task states sampled every ``--sample`` seconds):

API accept (the 202), waiting for the scheduler, schedule + claim, hand-off to hwmgr,
hwmgr's powering off / setting PXE / powering on / installing / rebooting, and the
report back to ACTIVE. ERROR faults are grouped by message. ``BENCH_KEEP_LOG=<file>``
keeps a copy of the run's ``stockyard up`` log (the run's directory is removed).
``--sql-probe`` also prints, for ``stockyard up`` and hwmgr, the SQLite statements that
held the database longest and how often each ran (``bench/sqlprobe.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import re
import sqlite3
import tempfile
import time
from datetime import datetime
from pathlib import Path

import cloud  # bench/ is the script's directory
import httpx
import sqlprobe
import yaml
from cloud import token, tree_cpu_seconds
from profiling import start_profile, stop_profile

RACK_SIZE = 20
EV_SCHEDULE = "conductor_schedule_and_build_instances"
EV_BUILD = "compute_build_and_run_instance"
HW_STATES = ("queued", "powering_off", "setting_pxe", "powering_on", "installing", "rebooting")


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def lab_yaml(path: Path, nodes: int) -> None:
    racks = []
    for r in range((nodes + RACK_SIZE - 1) // RACK_SIZE):
        count = min(RACK_SIZE, nodes - r * RACK_SIZE)
        half = count // 2
        groups = [
            {"resource_class": "BM_GOLD", "count": n, "bmc": bmc, "stock": "admin"}
            for n, bmc in ((count - half, "redfish"), (half, "ipmi"))
            if n
        ]
        az = f"az{1 + r % 2}"
        racks.append({"region": "RegionOne", "az": az, "rack": f"b{r}", "nodes": groups})
    one_rack = [{"name": "r1", "hypervisors": 1}]
    doc = {
        "version": 1,
        "fake": {"boot_seconds": 0.0, "fail_spawn": False, "seed": 1},
        "regions": [
            {
                "name": "RegionOne",
                "cidr": "10.20.0.0/16",
                "azs": [{"name": "az1", "racks": one_rack}, {"name": "az2", "racks": one_rack}],
            }
        ],
        "baremetal": {
            "install_seconds": 0.0,
            "redfish_power_delay": 0,
            "classes": {"BM_GOLD": {"cpus": 32, "memory_mb": 131072, "disk_gb": 960}},
            "racks": racks,
        },
    }
    path.write_text(yaml.safe_dump(doc))


def ts(value: str | None) -> float | None:
    """A naive-UTC timestamp as stored by the databases, as epoch seconds."""
    if not value:
        return None
    return datetime.fromisoformat(value).timestamp()


def utc_now() -> float:
    # Same clock and zone convention as ``ts`` (naive UTC read as local).
    return datetime.utcnow().timestamp()


def ro(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)


class HwmgrSampler:
    """First time each (task, state) was seen in hwmgr's tasks table."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self.seen: dict[str, dict[str, float]] = collections.defaultdict(dict)
        self.rows: dict[str, tuple[str, str | None, str | None, str | None]] = {}

    def sample(self) -> None:
        if not self.db_path.exists():
            return
        now = utc_now()
        with ro(self.db_path) as conn:
            for uuid, node, state, created, finished, error in conn.execute(
                "SELECT uuid, node_uuid, state, created_at, finished_at, last_error FROM tasks"
                " WHERE type = 'install'"
            ):
                self.seen[uuid].setdefault(state, now)
                self.rows[uuid] = (node, created, finished, error)


def settled(core: Path, n: int) -> tuple[int, int]:
    with ro(core) as conn:
        rows = dict(
            conn.execute(
                "SELECT vm_state, count(*) FROM instances WHERE deleted = 0 GROUP BY vm_state"
            ).fetchall()
        )
    return int(rows.get("active", 0)), int(rows.get("error", 0))


async def drive(port: int, data: Path, n: int, clients: int, sample_s: float, pid: int) -> None:
    core = data / "stockyard.db"
    sampler = HwmgrSampler(data / "hwmgr" / "RegionOne" / "hwmgr.db")
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=300) as client:
        h = {"X-Auth-Token": await token(client), "OpenStack-API-Version": "compute 2.79"}
        await cloud.lift_port_quota(client, h["X-Auth-Token"])
        images = (await client.get("/image/v2/images", headers=h)).json()["images"]
        image = next(i["id"] for i in images if i["name"] == "stockyard-default")
        sem = asyncio.Semaphore(clients)
        accept: list[float] = []
        refused: collections.Counter[str] = collections.Counter()

        async def create(i: int) -> None:
            body = {
                "server": {
                    "name": f"bm{i}",
                    "flavorRef": "bm.gold",
                    "imageRef": image,
                    "networks": "auto",
                }
            }
            async with sem:
                t0 = time.perf_counter()
                r = await client.post("/compute/v2.1/servers", json=body, headers=h)
                accept.append(time.perf_counter() - t0)
            if r.status_code != 202:
                refused[f"{r.status_code} {r.text[:120]}"] += 1

        tree0 = tree_cpu_seconds(pid)
        start_wall = utc_now()
        start = time.perf_counter()
        creates = asyncio.gather(*(create(i) for i in range(n)))
        active = errors = 0
        while True:
            await asyncio.sleep(sample_s)
            sampler.sample()
            if creates.done():
                active, errors = settled(core, n)
                if active + errors >= n - sum(refused.values()):
                    break
        await creates
        total = time.perf_counter() - start
        used = {k: v - tree0.get(k, 0.0) for k, v in tree_cpu_seconds(pid).items()}
        roles = ", ".join(f"{k} {v:.1f} s" for k, v in sorted(used.items(), key=lambda kv: -kv[1]))
        print(f"  CPU {sum(used.values()):.1f} s over {total:.1f} s: {roles}")
    sampler.sample()
    report(core, sampler, n, total, start_wall, accept, refused, active, errors)


NODE_NAME = re.compile(r"\b[\w.-]+-bm\d+\b")
UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
NUMBER = re.compile(r"\d+")


def generic(message: str) -> str:
    """A fault message with node names and counts blanked, so that alike faults group."""
    return NUMBER.sub("N", NODE_NAME.sub("<node>", UUID.sub("<uuid>", message)))


def report(
    core: Path,
    sampler: HwmgrSampler,
    n: int,
    total: float,
    start_wall: float,
    accept: list[float],
    refused: collections.Counter[str],
    active: int,
    errors: int,
) -> None:
    with ro(core) as conn:
        inst = {
            u: (ts(c), ts(launched), node, state)
            for u, c, launched, node, state in conn.execute(
                "SELECT uuid, created_at, launched_at, COALESCE(node, host), vm_state"
                " FROM instances"
            )
        }
        events: dict[tuple[str, str], tuple[float | None, float | None]] = {}
        for u, ev, st, fin in conn.execute(
            "SELECT a.instance_uuid, e.event, e.start_time, e.finish_time"
            " FROM instance_action_events e JOIN instance_actions a ON a.id = e.action_id"
            " WHERE a.action = 'create'"
        ):
            events[(u, ev)] = (ts(st), ts(fin))
        faults = collections.Counter(
            generic(m) for (m,) in conn.execute("SELECT message FROM instance_faults")
        )
        node_uuid = dict(conn.execute("SELECT name, uuid FROM hosts WHERE kind = 'baremetal'"))
    task_of_node = {row[0]: t for t, row in sampler.rows.items()}
    phases: dict[str, list[float]] = collections.defaultdict(list)
    for u, (created, launched, node, _state) in inst.items():
        sched_start, sched_end = events.get((u, EV_SCHEDULE), (None, None))
        build_start, build_end = events.get((u, EV_BUILD), (None, None))
        if created and sched_start:
            phases["waiting for the scheduler"].append(sched_start - created)
        if sched_start and sched_end:
            phases["schedule + claim"].append(sched_end - sched_start)
        task = task_of_node.get(node_uuid.get(node or "", ""))
        seen = sampler.seen.get(task or "", {})
        hw_created = ts(sampler.rows[task][1]) if task else None
        hw_finished = ts(sampler.rows[task][2]) if task else None
        if build_start and hw_created:
            phases["hand-off to hwmgr (build start -> task)"].append(hw_created - build_start)
        marks = [hw_created, *(seen.get(s) for s in HW_STATES[1:]), hw_finished]
        for name, a, b in zip(HW_STATES, marks, marks[1:], strict=False):
            if a is not None and b is not None and b >= a:
                phases[f"hwmgr {name.replace('_', ' ')}"].append(b - a)
        if hw_finished and launched:
            phases["hwmgr done -> ACTIVE"].append(launched - hw_finished)
        if created and launched:
            phases["create -> ACTIVE"].append(launched - created)
        if build_end and build_start and launched:
            phases["build (agent) total"].append(build_end - build_start)
    last_active = max((v[1] for v in inst.values() if v[1]), default=None)
    print(f"{n} baremetal servers, {len(accept)} POSTs:")
    print(
        f"  {active} ACTIVE, {errors} ERROR, {sum(refused.values())} refused;"
        f" total {total:.1f} s ({n / total:.1f} creates/s)"
        + (f"; last ACTIVE at +{last_active - start_wall:.1f} s" if last_active else "")
    )
    print(f"  {'phase':42s} {'p50':>8s} {'p99':>8s} {'max':>8s}  (seconds)")
    print(f"  {'API accept (202)':42s} {pct(accept, 50):8.2f} {pct(accept, 99):8.2f}")
    hw = [f"hwmgr {name.replace('_', ' ')}" for name in HW_STATES]
    order = ["waiting for the scheduler", "schedule + claim"]
    order += ["hand-off to hwmgr (build start -> task)", *hw, "hwmgr done -> ACTIVE"]
    order += ["build (agent) total", "create -> ACTIVE"]
    for name in order:
        values = phases.get(name, [])
        if values:
            print(f"  {name:42s} {pct(values, 50):8.2f} {pct(values, 99):8.2f} {max(values):8.2f}")
    hw_errors = collections.Counter(row[3] for row in sampler.rows.values() if row[3])
    for label, counter in (("refused", refused), ("fault", faults), ("hwmgr error", hw_errors)):
        for message, count in counter.most_common(5):
            print(f"  {label} x{count}: {message}")


LOG_LINE = re.compile(r"^\S+ \S+ (ERROR|WARNING) (\S+) \[[^]]*\] (.*)$")
EXC_LINE = re.compile(r"^[\w.]*(Error|Exception|Timeout|Locked|Failed)\w*: ")


def summarize_log(text: str) -> collections.Counter[str]:
    """Warnings, errors and exception lines of the server log, counted."""
    out: collections.Counter[str] = collections.Counter()
    for line in text.splitlines():
        m = LOG_LINE.match(line)
        if m:
            # Ids vary per line; the first 90 characters say what happened.
            out[generic(f"{m.group(1)} {m.group(2)}: {m.group(3)[:90]}")] += 1
        elif EXC_LINE.match(line):
            out[line[:150]] += 1
    return out


def run_once(
    nodes: int, clients: int, sample_s: float, profile: Path | None, sql_probe: bool
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        lab = tmpdir / "lab.yaml"
        lab_yaml(lab, nodes)
        t0 = time.perf_counter()
        env = {**cloud.FAKE_LAB_ENV, "STOCKYARD_LAB_FILE": str(lab)}
        if sql_probe:
            env.update(sqlprobe.enable(tmpdir / "sql"))
        up = cloud.start(tmpdir, env, timeout=900)
        try:
            print(
                f"[{nodes} nodes, {os.cpu_count()} cores] stockyard up ready"
                f" in {time.perf_counter() - t0:.1f} s"
            )
            spy = start_profile(profile, up.pid, str(nodes))
            asyncio.run(drive(up.port, up.data_dir, nodes, clients, sample_s, up.pid))
            stop_profile(spy)
        finally:
            cloud.stop(up)
            text = up.log_path.read_text()
            if os.environ.get("BENCH_KEEP_LOG"):
                Path(os.environ["BENCH_KEEP_LOG"]).write_text(text)
            logged = summarize_log(text)
            for line, count in logged.most_common(10):
                print(f"  log x{count}: {line}")
            if sql_probe:
                sqlprobe.report(tmpdir / "sql")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, nargs="+", default=[200, 1000])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--sample", type=float, default=0.25, help="hwmgr sampling period (s)")
    parser.add_argument(
        "--profile", type=Path, help="py-spy output (raw folded stacks; .json: speedscope)"
    )
    parser.add_argument(
        "--sql-probe",
        action="store_true",
        help="count each process's SQLite statements and their time (bench/sqlprobe.py)",
    )
    args = parser.parse_args()
    for nodes in args.nodes:
        run_once(nodes, args.clients, args.sample, args.profile, args.sql_probe)


if __name__ == "__main__":
    main()
