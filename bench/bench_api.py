"""API latency and create-to-ACTIVE throughput against a real ``stockyard up`` process.

Run: ``.venv/bin/python bench/bench_api.py [--creates 200] [--clients 50]``.
Prints figures only, asserts nothing. DESIGN.md's targets on 2 cores: 200 creates from 50
concurrent clients with the 202 at p99 <= 300 ms and all ACTIVE within 5 s, the server's
CPU per create <= 10 ms (the second phase runs the creates against ``stockyard api``
alone on the same database, so that its CPU is the API's own);
``GET /servers/detail`` of 200 servers <= 20 ms (1,000 servers <= 100 ms). It also
prints how long a cheap GET waits while the burst is accepted and built.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from pathlib import Path

import cloud  # bench/ is the script's directory
import httpx
from cloud import cpu_seconds, token
from profiling import start_profile, stop_profile


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def run(creates: int, clients: int, port: int, server_pid: int) -> None:
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        tok = await token(client)
        await cloud.lift_port_quota(client, tok)
        h = {"X-Auth-Token": tok, "OpenStack-API-Version": "compute 2.79"}
        r = await client.post(
            "/compute/v2.1/flavors",
            json={"flavor": {"name": "b1", "ram": 512, "vcpus": 1, "disk": 1, "id": "b1"}},
            headers=h,
        )
        r.raise_for_status()
        images = (await client.get("/image/v2/images", headers=h)).json()["images"]
        image_id = images[0]["id"]
        sem = asyncio.Semaphore(clients)
        latencies: list[float] = []
        ids: list[str] = []

        async def create(i: int) -> None:
            body = {
                "server": {
                    "name": f"b{i}",
                    "flavorRef": "b1",
                    "imageRef": image_id,
                    "networks": "auto",
                }
            }
            async with sem:
                t0 = time.perf_counter()
                resp = await client.post("/compute/v2.1/servers", json=body, headers=h)
                latencies.append(time.perf_counter() - t0)
            resp.raise_for_status()
            ids.append(resp.json()["server"]["id"])

        probes: list[float] = []
        probing = asyncio.Event()

        async def probe() -> None:
            # Any other request while the burst is accepted and built: how long the
            # process keeps it waiting (placement passes, the writer gate).
            async with httpx.AsyncClient(base_url=base, timeout=60) as other:
                while not probing.is_set():
                    t0 = time.perf_counter()
                    (await other.get("/compute/")).raise_for_status()
                    probes.append(time.perf_counter() - t0)
                    await asyncio.sleep(0.01)

        prober = asyncio.create_task(probe())
        cpu0 = cpu_seconds(server_pid)
        start = time.perf_counter()
        await asyncio.gather(*(create(i) for i in range(creates)))
        accepted = time.perf_counter() - start
        cpu_accept = cpu_seconds(server_pid) - cpu0
        # Polled with a one-row list of what is still building, not the whole detail
        # list: a detail of 200 servers every 50 ms was a large part of the server's CPU
        # over this phase, which is meant to be the builds'.
        building = {"status": "BUILD", "limit": "1"}
        while True:
            r = await client.get("/compute/v2.1/servers", params=building, headers=h)
            if not r.json()["servers"]:
                break
            await asyncio.sleep(0.05)
        all_active = time.perf_counter() - start
        cpu = cpu_seconds(server_pid) - cpu0
        probing.set()
        await prober
        servers = (await client.get("/compute/v2.1/servers/detail", headers=h)).json()["servers"]
        states = [s["status"] for s in servers]
        errors = sum(1 for s in states if s == "ERROR")
        print(f"{creates} creates from {clients} clients ({os.cpu_count()} cores):")
        print(
            f"  202 latency p50 {pct(latencies, 50) * 1000:.0f} ms  "
            f"p99 {pct(latencies, 99) * 1000:.0f} ms  (all accepted in {accepted:.2f} s)"
        )
        print(f"  all ACTIVE after {all_active:.2f} s  ({errors} ERROR)")
        print(
            f"  GET /compute/ meanwhile, every 10 ms: p50 {pct(probes, 50) * 1000:.1f} ms  "
            f"p99 {pct(probes, 99) * 1000:.1f} ms  max {max(probes) * 1000:.0f} ms"
        )
        print(
            f"  server CPU {cpu_accept:.2f} s to accept them: "
            f"{cpu_accept / creates * 1000:.1f} ms per create"
        )
        print(
            f"  server CPU {cpu:.2f} s over those {all_active:.2f} s to all ACTIVE: "
            f"{cpu / creates * 1000:.1f} ms per create"
        )
        detail: list[float] = []
        for _ in range(30):
            t0 = time.perf_counter()
            r = await client.get("/compute/v2.1/servers/detail", headers=h)
            detail.append(time.perf_counter() - t0)
        count = len(r.json()["servers"])
        print(
            f"GET /servers/detail with {count} servers: p50 {pct(detail, 50) * 1000:.1f} ms  "
            f"p99 {pct(detail, 99) * 1000:.1f} ms"
        )


async def api_alone(creates: int, clients: int, port: int, server_pid: int) -> None:
    """The same creates against ``stockyard api`` alone on the cloud's database: its CPU
    is the API's own (under ``stockyard up`` the builds run in the same process). No
    scheduler or conductor listens, so the servers stay in BUILD."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
        tok = await token(client)
        h = {"X-Auth-Token": tok, "OpenStack-API-Version": "compute 2.79"}
        image_id = (await client.get("/image/v2/images", headers=h)).json()["images"][0]["id"]
        body = {"server": {"flavorRef": "b1", "imageRef": image_id, "networks": "auto"}}
        sem = asyncio.Semaphore(clients)
        latencies: list[float] = []

        async def create(i: int) -> None:
            async with sem:
                t0 = time.perf_counter()
                r = await client.post(
                    "/compute/v2.1/servers",
                    json={"server": {**body["server"], "name": f"a{i}"}},
                    headers=h,
                )
                latencies.append(time.perf_counter() - t0)
            r.raise_for_status()

        cpu0 = cpu_seconds(server_pid)
        start = time.perf_counter()
        await asyncio.gather(*(create(i) for i in range(creates)))
        took = time.perf_counter() - start
        cpu = cpu_seconds(server_pid) - cpu0
        print(f"{creates} creates from {clients} clients against `stockyard api` alone:")
        print(
            f"  202 latency p50 {pct(latencies, 50) * 1000:.0f} ms  "
            f"p99 {pct(latencies, 99) * 1000:.0f} ms  (all accepted in {took:.2f} s)"
        )
        print(f"  API CPU {cpu:.2f} s: {cpu / creates * 1000:.1f} ms per create")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--creates", type=int, default=200)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument(
        "--profile", type=Path, help="py-spy output (raw folded stacks; .json: speedscope)"
    )
    parser.add_argument(
        "--no-api-alone",
        action="store_true",
        help="skip the second phase: the same creates against `stockyard api` alone",
    )
    args = parser.parse_args()
    with cloud.fake_lab_cloud(None, racks=5, per_rack=10) as up:
        spy = start_profile(args.profile, up.pid, str(args.creates))
        asyncio.run(run(args.creates, args.clients, up.port, up.pid))
        stop_profile(spy)
        if args.no_api_alone:
            return
        cloud.stop(up)
        env = {**cloud.FAKE_LAB_ENV, "STOCKYARD_LAB_FILE": str(up.workdir / "lab.yaml")}
        with cloud.running(up.workdir, env, role="api") as api:
            spy = start_profile(args.profile, api.pid, f"{args.creates}-api")
            asyncio.run(api_alone(args.creates, args.clients, api.port, api.pid))
            stop_profile(spy)


if __name__ == "__main__":
    main()
