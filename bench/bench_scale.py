"""Verda-scale simulation: the control plane on a generated cloud of 7,600 hypervisors,
46,000 baremetal nodes (3 regions, 9 AZs, 900 racks), 100,000 instances and 20,000
server groups in PostgreSQL (issue 15).

Run: ``.venv/bin/python bench/bench_scale.py [--scale 0.1] [--hypervisors N --nodes N
--instances N --groups N --racks N] [--decisions 2000] [--claims 500] [--keep]``.
Prints figures only, asserts nothing. Goals (issue 15): decision p99 <= 3.5 ms; decision
+ claim p99 < 10 ms; >= 1,000 decisions/s with 2 schedulers.

Needs PostgreSQL on 127.0.0.1:5432 and RabbitMQ on 5672 (for the role processes). The
database ``stockyard_scale`` is recreated, and dropped at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.scale import measure, roles
from bench.scale.generate import DEFAULT_URL, drop_pg, generate, recreate_pg
from bench.scale.layout import Scale


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Verda-scale simulation (issue 15)")
    p.add_argument("--scale", type=float, default=1.0, help="fraction of every full count")
    for name in ("hypervisors", "nodes", "instances", "groups", "racks"):
        p.add_argument(f"--{name}", type=int, help=f"override the number of {name}")
    p.add_argument("--decisions", type=int, default=2000, help="decisions timed (and per process)")
    p.add_argument("--claims", type=int, default=500, help="decision + claim transactions")
    p.add_argument("--rounds", type=int, default=30, help="calls of each server list")
    p.add_argument("--url", default=DEFAULT_URL, help="PostgreSQL database to recreate")
    p.add_argument("--keep", action="store_true", help="keep the database afterwards")
    return p.parse_args()


def scale_of(args: argparse.Namespace) -> Scale:
    scale = Scale().scaled(args.scale) if args.scale != 1.0 else Scale()
    overrides = {
        k: getattr(args, k)
        for k in ("hypervisors", "nodes", "instances", "groups", "racks")
        if getattr(args, k) is not None
    }
    return replace(scale, **overrides)


async def in_process(url: str, args: argparse.Namespace, lines: list[str]) -> None:
    loaded = await measure.load(url)
    n_hosts = len(loaded.scheduler.index)
    lines.append(
        f"scheduler start: {n_hosts} host states loaded in {loaded.seconds:.2f} s;"
        f" RSS {loaded.rss_before:.0f} -> {loaded.rss_after:.0f} MiB"
        f" (+{loaded.rss_after - loaded.rss_before:.0f} MiB for the index)"
    )
    reqs = await measure.requests(loaded.db, args.decisions, seed=7)
    specs = await measure.specs(loaded, reqs)
    times, refused = measure.decisions(loaded.scheduler, specs)
    for kind, label in (("vm", "VM (AZ + aggregate + rack anti-affinity)"),
                        ("baremetal", "baremetal (AZ + stock + rack anti-aff.)")):  # fmt: skip
        mine = [(t, r) for t, r, s in zip(times, refused, specs, strict=True) if s.kind == kind]
        if mine:
            lines.append(f"decision, {label}: {measure.summary([t for t, _ in mine])}")
            ok = [t for t, r in mine if not r]
            lines.append(
                f"  {sum(r for _, r in mine)} refused (the project's stock or group rule);"
                f" placed only: p99 {measure.pct(ok or [0.0], 99):.2f} ms"
            )
    creqs = await measure.requests(loaded.db, args.claims, seed=8)
    ctimes, lost, phases = await measure.decide_and_claim(loaded, creqs)
    lines.append(f"decision + claim transaction:                     {measure.summary(ctimes)}")
    lines.append(
        f"  claims lost: {lost}; per phase p50/p99 ms: "
        + ", ".join(f"{k} {measure.pct(v, 50):.2f}/{measure.pct(v, 99):.2f}"
                    for k, v in phases.items())
    )  # fmt: skip
    await loaded.db.dispose()


def main() -> None:
    args = parse()
    scale = scale_of(args)
    url = args.url
    lines: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        asyncio.run(recreate_pg(url))
        made = asyncio.run(generate(url, scale, work / "seed"))
        layout = made.layout
        n_hv = sum(1 for h in layout.hosts if h["kind"] == "vm")
        lines.append(
            f"generated in {made.seconds:.1f} s: {n_hv} hypervisors,"
            f" {len(layout.hosts) - n_hv} baremetal nodes, {len(layout.racks)} racks,"
            f" {len(layout.instances)} instances, {len(layout.server_groups)} server groups"
            f" ({len(layout.server_group_members)} members), {len(layout.aggregates)} aggregates"
        )
        del made, layout  # the rows are in the database now: free them before measuring
        gc.collect()
        try:
            asyncio.run(in_process(url, args, lines))
            print("\n".join(lines), flush=True)
            lines.clear()
            t0 = time.perf_counter()
            results = measure.parallel(url, args.decisions, procs=2)
            total = sum(r["n"] for r in results)
            wall = max(r["wall"] for r in results)
            lines.append(
                f"2 scheduler processes: {total} decisions in {wall:.2f} s ="
                f" {total / wall:.0f} decisions/s (each: "
                + ", ".join(f"{r['n'] / r['wall']:.0f}/s p99 {r['p99']:.2f} ms" for r in results)
                + f"; whole run with loads {time.perf_counter() - t0:.1f} s)"
            )
            passes = asyncio.run(roles.reconciler_passes(url, work / "rec"))
            lines.append(
                f"reconciler pass: first {passes[0] * 1000:.0f} ms, median"
                f" {statistics.median(passes) * 1000:.0f} ms ({len(passes)} passes)"
            )
            print("\n".join(lines), flush=True)
            lines.clear()
            run_roles(url, work, args.rounds, lines)
        finally:
            if not args.keep:
                asyncio.run(drop_pg(url))
    load = os.getloadavg()
    lines.append(
        f"machine: os.cpu_count() = {os.cpu_count()}; load average {load[0]:.1f} {load[1]:.1f}"
        " (cores shared with other work: figures are upper bounds)"
    )
    print("\n".join(lines))


def run_roles(url: str, work: Path, rounds: int, lines: list[str]) -> None:
    procs = roles.Roles(url, work)
    try:
        for name in ("scheduler", "conductor", "api"):
            role = procs.start(name)
            lines.append(f"`stockyard {name}` ready in {role.ready_s:.1f} s")
        api = procs.started[-1]
        lists = asyncio.run(roles.server_lists(api.port, rounds))
        for label, (times, count) in lists.items():
            lines.append(roles.fmt_list(label, times, count))
        time.sleep(2)  # a reconciler pass or two of the conductor at this scale
        mem = procs.memory()
        lines.append(
            "memory (RSS) of each role: " + ", ".join(f"{k} {v:.0f} MiB" for k, v in mem.items())
        )
    finally:
        procs.stop()


if __name__ == "__main__":
    main()
