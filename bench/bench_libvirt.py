"""Real VMs through the libvirt driver: create-to-running and create-to-ready-marker.

Run: ``.venv/bin/python bench/bench_libvirt.py [--counts 1 4] [--uri qemu:///system]
[--image images/out/stockyard-tiny.img]``. Needs ``scripts/install-libvirt`` and the
image (built with ``images/build-stockyard-tiny.sh`` when missing). Boots N guests of
stockyard-tiny at once (1 vCPU, 256 MB) and prints, per batch, the time from ``spawn`` to
the domain running and to ``STOCKYARD-READY`` on each serial console, with the mode (KVM
or TCG) the guests ran in. Prints figures only, asserts nothing; deletes its guests.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from stockyard.compute.drivers.base import InstanceSpec
from stockyard.compute.drivers.libvirt import LibvirtDriver

ROOT = Path(__file__).resolve().parent.parent
MARKER = "STOCKYARD-READY"


async def boot_one(drv: LibvirtDriver, spec: InstanceSpec, limit: float) -> tuple[float, float]:
    start = time.perf_counter()
    await drv.spawn(spec)
    running = time.perf_counter() - start
    while time.perf_counter() - start < limit:
        if MARKER in await drv.get_console_output(spec, 5):
            return running, time.perf_counter() - start
        await asyncio.sleep(0.1)
    return running, float("nan")


async def batch(drv: LibvirtDriver, count: int, limit: float) -> None:
    specs = [
        InstanceSpec(
            uuid=str(uuid.uuid4()),
            name=f"bench{i}",
            hostname=f"bench{i}",
            flavor={"vcpus": 1, "ram": 256, "disk": 1},
            image_ref="stockyard-tiny",
        )
        for i in range(count)
    ]
    wall = time.perf_counter()
    try:
        results = await asyncio.gather(*(boot_one(drv, s, limit) for s in specs))
    finally:
        await asyncio.gather(*(drv.destroy(s) for s in specs))
    wall = time.perf_counter() - wall
    running = [r for r, _ in results]
    ready = [r for _, r in results]
    print(
        f"{count} VM(s) at once: running max {max(running):.2f}s "
        f"(mean {sum(running) / count:.2f}s), ready marker max {max(ready):.2f}s "
        f"(mean {sum(ready) / count:.2f}s), batch incl. delete {wall:.2f}s"
    )


def prepare(image: Path) -> Path:
    """A data dir whose image store holds stockyard-tiny (built if missing)."""
    if not image.exists():
        build = ROOT / "images/build-stockyard-tiny.sh"
        subprocess.run([str(build), str(image.parent)], check=True)
    # QEMU runs as libvirt-qemu: the data dir must be reachable by other users.
    data = Path(tempfile.mkdtemp(prefix="stockyard-bench-", dir="/var/tmp"))
    data.chmod(0o755)
    (data / "images").mkdir()
    shutil.copyfile(image, data / "images" / "stockyard-tiny")
    return data


async def run(uri: str, data: Path, counts: list[int], limit: float) -> None:
    drv = LibvirtDriver("bench", uri=uri, data_dir=data)
    try:
        mode = "KVM" if drv.virt_type == "kvm" else "TCG (no usable KVM)"
        print(f"libvirt {uri}, guests run under {mode}")
        # The first boot also fills the base-image cache; it is not counted.
        await batch(drv, 1, limit)
        print("(warm-up above: includes caching the base image)")
        for count in counts:
            await batch(drv, count, limit)
    finally:
        await drv.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--uri", default="qemu:///system")
    parser.add_argument("--counts", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--image", type=Path, default=ROOT / "images/out/stockyard-tiny.img")
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()
    data = prepare(args.image)
    try:
        asyncio.run(run(args.uri, data, args.counts, args.timeout))
    finally:
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
