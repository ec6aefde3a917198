"""Dashboard page time for a project of 1,000 servers against a real ``stockyard up``.

Run: ``.venv/bin/python bench/bench_dashboard.py [--servers 1000] [--rounds 20] [--profile]``.
Prints figures only, asserts nothing. The issue's target on 2 cores: the servers page of
1,000 servers renders in under 300 ms.

It times ``GET /dashboard/servers`` (the dashboard mounted by ``stockyard up``, as a
browser gets it), then the API calls the page makes on their own, to show what is the
dashboard's share. ``--profile`` also runs the dashboard in this process (talking to the
same API over HTTP) under cProfile and prints its top functions.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cloud
import httpx
from bench_api import pct  # bench/ is the script's directory
from cloud import cpu_seconds, token

ADMIN_PW = cloud.ADMIN_PASSWORD


async def fill(
    client: httpx.AsyncClient,
    h: dict[str, str],
    servers: int,
    extra: Callable[[int], dict[str, Any]] | None = None,
) -> None:
    """``servers`` ACTIVE servers in the project of ``h``'s token, by multi-creates of 100;
    ``extra(made)``: more fields of the create that makes servers ``made`` onwards."""
    image_id = (await client.get("/image/v2/images", headers=h)).json()["images"][0]["id"]
    made = len((await client.get("/compute/v2.1/servers?limit=2000", headers=h)).json()["servers"])
    while made < servers:
        n = min(100, servers - made)
        body = {
            "server": {
                "name": f"s{made:04d}",
                "flavorRef": "42",
                "imageRef": image_id,
                "networks": "none",
                "min_count": n,
                "max_count": n,
                **(extra(made) if extra else {}),
            }
        }
        (await client.post("/compute/v2.1/servers", json=body, headers=h)).raise_for_status()
        made += n
    while True:
        listed = (await client.get("/compute/v2.1/servers/detail?limit=2000", headers=h)).json()[
            "servers"
        ]
        if len(listed) >= servers and all(s["status"] in ("ACTIVE", "ERROR") for s in listed):
            return
        await asyncio.sleep(0.5)


async def login(client: httpx.AsyncClient, prefix: str = "/dashboard") -> None:
    page = await client.get(f"{prefix}/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    form = {
        "csrf_token": csrf.group(1),
        "username": "admin",
        "password": ADMIN_PW,
        "project": "admin",
    }
    done = await client.post(f"{prefix}/login", data=form)
    assert done.status_code == 303 and done.headers["location"].endswith("/servers"), done.text


async def timed(client: httpx.AsyncClient, path: str, rounds: int, **kw: object) -> list[float]:
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        r = await client.get(path, **kw)  # type: ignore[arg-type]
        out.append(time.perf_counter() - t0)
        r.raise_for_status()
    return out


def report(label: str, values: list[float]) -> None:
    print(
        f"{label}: p50 {pct(values, 50) * 1000:.0f} ms  p90 {pct(values, 90) * 1000:.0f} ms"
        f"  min {min(values) * 1000:.0f} ms"
    )


async def run(base: str, servers: int, rounds: int, profile: bool, server_pid: int) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=120) as client:
        h = {"X-Auth-Token": await token(client, ADMIN_PW), "OpenStack-API-Version": "compute 2.79"}
        t0 = time.perf_counter()
        await fill(client, h, servers)
        print(
            f"{servers} servers ACTIVE after {time.perf_counter() - t0:.1f} s; "
            f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
        )
        await login(client)
        page = await client.get("/dashboard/servers")
        rows = page.text.count('<tr id="server-')
        print(f"servers page: {rows} rows, {len(page.content) / 1024:.0f} KiB")
        await timed(client, "/dashboard/servers", 2)  # warm
        cpu0 = cpu_seconds(server_pid)
        report("GET /dashboard/servers", await timed(client, "/dashboard/servers", rounds))
        # CPU, unlike wall time, does not grow with other processes' load: what one page
        # costs the stockyard up process (API and mounted dashboard together).
        per_page = (cpu_seconds(server_pid) - cpu0) / rounds * 1000
        print(f"  stockyard up CPU per page: {per_page:.0f} ms")
        report(
            "GET /dashboard/servers/table", await timed(client, "/dashboard/servers/table", rounds)
        )
        cpu0 = cpu_seconds(server_pid)
        report(
            "  API GET /servers/detail?limit=1000",
            await timed(
                client, "/compute/v2.1/servers/detail", rounds, params={"limit": 1000}, headers=h
            ),
        )
        per_call = (cpu_seconds(server_pid) - cpu0) / rounds * 1000
        print(f"    stockyard up CPU per call: {per_call:.0f} ms")
        report("  API GET /v2/images", await timed(client, "/image/v2/images", rounds, headers=h))
        report(
            "  API GET /os-aggregates",
            await timed(client, "/compute/v2.1/os-aggregates", rounds, headers=h),
        )
    if profile:
        await profile_in_process(base, rounds)


async def profile_in_process(base: str, rounds: int) -> None:
    """The dashboard in this process, the API over HTTP: cProfile of the page's work."""
    from fastapi import FastAPI

    from stockyard.dashboard.app import create_dashboard

    dashboard = create_dashboard(f"{base}/identity/v3")
    parent = FastAPI()
    parent.mount("/dashboard", dashboard)
    transport = httpx.ASGITransport(app=parent)
    async with httpx.AsyncClient(transport=transport, base_url="http://dash") as client:
        await login(client)
        cpu0 = time.process_time()
        report(
            "in-process dashboard GET /dashboard/servers",
            await timed(client, "/dashboard/servers", rounds),
        )
        # This process runs only the dashboard (the API is the other process): its CPU
        # per page is the dashboard's own cost, whatever the machine's load.
        print(f"  dashboard CPU per page: {(time.process_time() - cpu0) / rounds * 1000:.0f} ms")
        prof = cProfile.Profile()
        prof.enable()
        await timed(client, "/dashboard/servers", rounds)
        prof.disable()
    await dashboard.state.dashboard.aclose()
    pstats.Stats(prof).sort_stats("tottime").print_stats(25)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--servers", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--keep", type=Path, help="a directory for the cloud, kept for reruns")
    args = parser.parse_args()
    with cloud.fake_lab_cloud(args.keep, racks=3, per_rack=10, timeout=60) as up:
        asyncio.run(run(up.base, args.servers, args.rounds, args.profile, up.pid))


if __name__ == "__main__":
    sys.exit(main())
