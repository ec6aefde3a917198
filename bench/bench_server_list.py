"""The server list at 1,000 servers against a real ``stockyard up``: API and dashboard.

Run: ``.venv/bin/python bench/bench_server_list.py [--servers 1000] [--rounds 30]
[--keep DIR] [--profile out.txt]``. Prints figures only, asserts nothing. Targets on 2
cores (issues 14 and 15): ``GET /servers/detail`` of 1,000 servers <= 100 ms; the
dashboard's servers page of 1,000 servers < 300 ms.

The servers are made by multi-creates (``networks: none``, so the fill does not wait on
ports) carrying metadata and tags, as a project's servers usually do. ``--keep`` keeps the
cloud's directory so a rerun (e.g. after a code change) skips the fill. ``--profile``
samples ``stockyard up`` with py-spy while the ``limit=1000`` detail list is timed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from pathlib import Path
from typing import Any

import cloud  # bench/ is the script's directory
import httpx
from bench_api import pct
from bench_dashboard import ADMIN_PW, fill, login
from cloud import cpu_seconds, token
from profiling import start_profile, stop_profile

MV = "compute 2.96"  # the newest body: every field the list can carry


def labels(made: int) -> dict[str, Any]:
    """Metadata and tags of the servers a multi-create makes from ``made`` on."""
    return {
        "metadata": {"owner": "bench", "tier": f"t{made % 3}"},
        "tags": ["bench", f"batch-{made // 100}"],
    }


async def timed(
    client: httpx.AsyncClient, path: str, rounds: int, pid: int, **kw: object
) -> tuple[list[float], float, int]:
    """Wall times of ``rounds`` GETs, the server's CPU ms per call, the body's size."""
    await client.get(path, **kw)  # type: ignore[arg-type]  # warm
    out = []
    cpu0 = cpu_seconds(pid)
    size = 0
    for _ in range(rounds):
        t0 = time.perf_counter()
        r = await client.get(path, **kw)  # type: ignore[arg-type]
        out.append(time.perf_counter() - t0)
        r.raise_for_status()
        size = len(r.content)
    return out, (cpu_seconds(pid) - cpu0) / rounds * 1000, size


def report(label: str, result: tuple[list[float], float, int]) -> None:
    values, cpu, size = result
    print(
        f"{label:<42} p50 {pct(values, 50) * 1000:6.1f} ms  p95 {pct(values, 95) * 1000:6.1f} ms"
        f"  CPU/call {cpu:5.0f} ms  {size / 1024:5.0f} KiB"
    )


async def run(base: str, args: argparse.Namespace, pid: int) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=120) as client:
        h = {"X-Auth-Token": await token(client, ADMIN_PW), "OpenStack-API-Version": MV}
        t0 = time.perf_counter()
        await fill(client, h, args.servers, labels)
        print(
            f"{args.servers} servers ACTIVE after {time.perf_counter() - t0:.1f} s; load average "
            f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; {args.rounds} rounds each"
        )
        api = "/compute/v2.1/servers"
        report(
            "GET /servers/detail (no limit)",
            await timed(client, f"{api}/detail", **_kw(args, pid, h)),
        )
        spy = start_profile(args.profile, pid, "detail")
        report(
            "GET /servers/detail?limit=1000",
            await timed(client, f"{api}/detail?limit=1000", **_kw(args, pid, h)),
        )
        stop_profile(spy)
        report(
            "GET /servers/detail?limit=100",
            await timed(client, f"{api}/detail?limit=100", **_kw(args, pid, h)),
        )
        report(
            "GET /servers?limit=1000", await timed(client, f"{api}?limit=1000", **_kw(args, pid, h))
        )
        await login(client)
        report(
            "GET /dashboard/servers", await timed(client, "/dashboard/servers", args.rounds, pid)
        )


def _kw(args: argparse.Namespace, pid: int, h: dict[str, str]) -> dict[str, object]:
    return {"rounds": args.rounds, "pid": pid, "headers": h}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--servers", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--keep", type=Path, help="a directory for the cloud, kept for reruns")
    parser.add_argument("--profile", type=Path, help="py-spy output of the detail list")
    args = parser.parse_args()
    with cloud.fake_lab_cloud(args.keep, racks=3, per_rack=10, timeout=120) as up:
        asyncio.run(run(up.base, args, up.pid))


if __name__ == "__main__":
    main()
