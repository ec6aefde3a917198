"""Real VMs: time from ``server create`` to ACTIVE and to the guest's ready marker.

Run: ``.venv/bin/python bench/bench_libvirt.py [--counts 1 4] [--uri qemu:///system]
[--image images/out/stockyard-tiny.img] [--driver-only]``. Needs
``scripts/install-libvirt`` and the image (built with ``images/build-stockyard-tiny.sh``
when missing).

By default it starts ``stockyard up`` with this machine enrolled as a libvirt hypervisor
(on a free loopback port, data dir under /var/tmp) and, per batch, creates N servers of
m1.tiny / stockyard-tiny at once through the compute API (forced onto the libvirt host),
then measures for each: create request -> status ACTIVE, and create request ->
``STOCKYARD-READY`` in ``os-getConsoleOutput`` (``openstack console log show``). With
``--driver-only`` it times the libvirt driver alone (spawn -> running -> marker). Prints
the mode (KVM or TCG) the guests ran in. Prints figures only, asserts nothing; deletes
its servers.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import cloud as bench_cloud  # bench/ is the script's directory
import httpx
import yaml

from stockyard.compute.drivers.base import InstanceSpec
from stockyard.compute.drivers.libvirt.host import choose_virt_type

ROOT = Path(__file__).resolve().parent.parent
MARKER = "STOCKYARD-READY"
POLL = 0.25


def _mode() -> str:
    return "KVM" if choose_virt_type("auto") == "kvm" else "TCG (no usable KVM)"


def _summary(values: list[float]) -> str:
    return f"max {max(values):.2f}s (mean {sum(values) / len(values):.2f}s)"


# -- through the cloud (default) ---------------------------------------------------------


class Cloud:
    """A ``stockyard up`` subprocess with the libvirt host, driven over HTTP."""

    def __init__(self, uri: str, image: Path) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="stockyard-bench-", dir="/var/tmp"))
        self.tmp.chmod(0o755)  # QEMU (libvirt-qemu) must reach the disks under it
        env = {"STOCKYARD_LIBVIRT_URI": uri, "STOCKYARD_TINY_IMAGE": str(image.resolve())}
        self.up = bench_cloud.start(self.tmp, env, timeout=120)
        self.base = self.up.base
        self.http = httpx.AsyncClient(base_url=self.base, timeout=60)

    async def ready(self) -> None:
        clouds = yaml.safe_load((self.tmp / "data" / "clouds.yaml").read_text())
        auth = clouds["clouds"]["stockyard-admin"]["auth"]
        body = {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {
                            "name": auth["username"],
                            "password": auth["password"],
                            "domain": {"name": auth.get("user_domain_name", "Default")},
                        }
                    },
                },
                "scope": {
                    "project": {
                        "name": auth["project_name"],
                        "domain": {"name": auth.get("project_domain_name", "Default")},
                    }
                },
            }
        }
        r = await self.http.post("/identity/v3/auth/tokens", json=body)
        r.raise_for_status()
        self.http.headers["X-Auth-Token"] = r.headers["X-Subject-Token"]
        self.http.headers["OpenStack-API-Version"] = "compute 2.79"

    async def get(self, path: str) -> Any:
        r = await self.http.get(f"/compute/v2.1{path}")
        r.raise_for_status()
        return r.json()

    async def libvirt_host(self) -> str:
        hypervisors = (await self.get("/os-hypervisors/detail"))["hypervisors"]
        return next(h["hypervisor_hostname"] for h in hypervisors if h["hypervisor_type"] == "QEMU")

    async def image_id(self, name: str) -> str:
        r = await self.http.get(f"/image/v2/images?name={name}")
        r.raise_for_status()
        return str(r.json()["images"][0]["id"])

    async def close(self) -> None:
        await self.http.aclose()
        bench_cloud.stop(self.up)
        shutil.rmtree(self.tmp, ignore_errors=True)


async def _one(cloud: Cloud, name: str, image: str, az: str, limit: float) -> tuple[float, float]:
    body = {
        "server": {
            "name": name,
            "flavorRef": "1",
            "imageRef": image,
            "networks": "auto",
            "availability_zone": az,
        }
    }
    start = time.perf_counter()
    r = await cloud.http.post("/compute/v2.1/servers", json=body)
    r.raise_for_status()
    sid = r.json()["server"]["id"]
    active = ready = float("nan")
    try:
        while time.perf_counter() - start < limit:
            status = (await cloud.get(f"/servers/{sid}"))["server"]["status"]
            if status == "ACTIVE":
                active = time.perf_counter() - start
                break
            if status == "ERROR":
                print(f"  {name} went to ERROR", file=sys.stderr)
                return active, ready
            await asyncio.sleep(POLL)
        while time.perf_counter() - start < limit:
            r = await cloud.http.post(
                f"/compute/v2.1/servers/{sid}/action",
                json={"os-getConsoleOutput": {"length": 5}},
            )
            if r.status_code == 200 and MARKER in r.json()["output"]:
                ready = time.perf_counter() - start
                break
            await asyncio.sleep(POLL)
    finally:
        await cloud.http.delete(f"/compute/v2.1/servers/{sid}")
        while True:
            if (await cloud.http.get(f"/compute/v2.1/servers/{sid}")).status_code == 404:
                break
            await asyncio.sleep(POLL)
    return active, ready


async def api_batches(uri: str, image: Path, counts: list[int], limit: float) -> None:
    cloud = Cloud(uri, image)
    try:
        await cloud.ready()
        host = await cloud.libvirt_host()
        image_id = await cloud.image_id("stockyard-tiny")
        print(f"stockyard up, libvirt {uri} host {host}, guests run under {_mode()}")
        print("m1.tiny (1 vCPU, 512 MB) from stockyard-tiny, forced to az1:" + host)
        for i, count in enumerate([1, *counts]):
            results = await asyncio.gather(
                *(_one(cloud, f"b{i}-{n}", image_id, f"az1:{host}", limit) for n in range(count))
            )
            active = [a for a, _ in results]
            ready = [r for _, r in results]
            print(
                f"{count} VM(s) at once: create->ACTIVE {_summary(active)}, "
                f"create->ready marker {_summary(ready)}"
                + ("  [warm-up: fills the base-image cache]" if i == 0 else "")
            )
    finally:
        await cloud.close()


# -- the driver alone (--driver-only) ----------------------------------------------------


async def _boot_one(drv: Any, spec: InstanceSpec, limit: float) -> tuple[float, float]:
    start = time.perf_counter()
    await drv.spawn(spec)
    running = time.perf_counter() - start
    while time.perf_counter() - start < limit:
        if MARKER in await drv.get_console_output(spec, 5):
            return running, time.perf_counter() - start
        await asyncio.sleep(0.1)
    return running, float("nan")


def _driver_data_dir(image: Path) -> Path:
    """A data dir QEMU can reach whose image store holds stockyard-tiny."""
    data = Path(tempfile.mkdtemp(prefix="stockyard-bench-", dir="/var/tmp"))
    data.chmod(0o755)
    (data / "images").mkdir()
    shutil.copyfile(image, data / "images" / "stockyard-tiny")
    return data


async def driver_batches(uri: str, image: Path, counts: list[int], limit: float) -> None:
    from stockyard.compute.drivers.libvirt import LibvirtDriver

    data = _driver_data_dir(image)
    drv = LibvirtDriver("bench", uri=uri, data_dir=data)
    print(f"libvirt driver alone on {uri}, guests run under {_mode()}")
    try:
        for i, count in enumerate([1, *counts]):
            specs = [
                InstanceSpec(
                    uuid=str(uuid.uuid4()),
                    hostname=f"bench{n}",
                    flavor={"vcpus": 1, "ram": 512, "disk": 1},
                    image_ref="stockyard-tiny",
                )
                for n in range(count)
            ]
            try:
                results = await asyncio.gather(*(_boot_one(drv, s, limit) for s in specs))
            finally:
                await asyncio.gather(*(drv.destroy(s) for s in specs))
            print(
                f"{count} VM(s) at once: spawn->running "
                f"{_summary([r for r, _ in results])}, spawn->ready marker "
                f"{_summary([r for _, r in results])}"
                + ("  [warm-up: fills the base-image cache]" if i == 0 else "")
            )
    finally:
        await drv.close()
        shutil.rmtree(data, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--uri", default="qemu:///system")
    parser.add_argument("--counts", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--image", type=Path, default=ROOT / "images/out/stockyard-tiny.img")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--driver-only", action="store_true", help="time the driver alone")
    args = parser.parse_args()
    if not args.image.exists():
        build = ROOT / "images/build-stockyard-tiny.sh"
        subprocess.run([str(build), str(args.image.parent)], check=True)
    run = driver_batches if args.driver_only else api_batches
    asyncio.run(run(args.uri, args.image, args.counts, args.timeout))


if __name__ == "__main__":
    main()
