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
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
from bench_api import BIN, cpu_seconds, lab_yaml, pct, token  # bench/ is the script's directory
from bench_dashboard import ADMIN_PW, login
from profiling import start_profile, stop_profile

MV = "compute 2.96"  # the newest body: every field the list can carry


async def fill(client: httpx.AsyncClient, h: dict[str, str], servers: int) -> None:
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
                "metadata": {"owner": "bench", "tier": f"t{made % 3}"},
                "tags": ["bench", f"batch-{made // 100}"],
                "min_count": n,
                "max_count": n,
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
        await fill(client, h, args.servers)
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
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = args.keep or Path(tmp)
        tmpdir.mkdir(parents=True, exist_ok=True)
        lab = tmpdir / "lab.yaml"
        lab_yaml(lab, racks=3, per_rack=10)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("STOCKYARD_")}
        env.update(
            STOCKYARD_API_PORT=str(port),
            STOCKYARD_DATA_DIR=str(tmpdir / "data"),
            STOCKYARD_LAB_FILE=str(lab),
            STOCKYARD_ADMIN_PASSWORD=ADMIN_PW,
            STOCKYARD_FAKE_BOOT_SECONDS="0",
            STOCKYARD_LOG_LEVEL="WARNING",
            STOCKYARD_QUOTA_INSTANCES="100000",
            STOCKYARD_QUOTA_CORES="100000",
            STOCKYARD_QUOTA_RAM="100000000",
        )
        proc = subprocess.Popen(
            [str(BIN / "stockyard"), "up"],
            env=env,
            cwd=tmpdir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            asyncio.run(run(base, args, proc.pid))
        finally:
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
