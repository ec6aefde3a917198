"""hwmgr's power sync at fleet size: BMC reads per second and pass length.

Run: ``.venv/bin/python bench/bench_power_sync.py [--nodes 200 1000] [--interval 60]``.
Prints figures only, asserts nothing; not run by the tests.

Per N: a sushy-tools Redfish emulator with half the nodes (one endpoint, as a rack of
real BMCs behind one Redfish aggregator would be) and the pyghmi IPMI emulator with the
other half; one hwmgr with its own sync off; every node enrolled and managed through the
API. Then two passes of ``PowerSync.sync_once``: unpaced (``interval=0``: how fast the
workers can go) and paced as the service runs it (``--interval``), counting BMC reads per
second of the paced pass.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from cryptography.fernet import Fernet
from pydantic import SecretStr

from stockyard.hwmgr.bmcport import BMCLike, BMCTarget
from stockyard.hwmgr.emulators.ipmi import IpmiNodeSpec
from stockyard.hwmgr.emulators.ipmi_emulator import IpmiEmulator
from stockyard.hwmgr.emulators.redfish import RedfishEmulator, SystemSpec
from stockyard.hwmgr.powersync import PowerSync
from stockyard.hwmgr.service import HwmgrService
from stockyard.hwmgr.settings import HwmgrSettings

TOKEN = "bench-power-sync"


class _Counted:
    def __init__(self, real: BMCLike, stamps: list[float]) -> None:
        self.real, self.stamps = real, stamps

    async def power_state(self) -> str:
        self.stamps.append(time.monotonic())
        return await self.real.power_state()

    async def aclose(self) -> None:
        closer = getattr(self.real, "aclose", None)
        if closer is not None:
            await closer()


async def _enroll_all(client: httpx.AsyncClient, bodies: list[dict[str, Any]]) -> None:
    limit = asyncio.Semaphore(16)

    async def one(body: dict[str, Any]) -> None:
        async with limit:
            r = await client.post("/v1/nodes", json=body)
            r.raise_for_status()
            r = await client.post(f"/v1/nodes/{r.json()['uuid']}/manage")
            r.raise_for_status()

    await asyncio.gather(*(one(b) for b in bodies))


def _body(i: int, name: str, bmc: dict[str, Any]) -> dict[str, Any]:
    mac = "52:54:09:{:02x}:{:02x}:{:02x}".format(*((i >> s) & 0xFF for s in (16, 8, 0)))
    return {
        "name": name,
        "region": "RegionOne",
        "az": "az1",
        "rack": f"r{i // 20}",
        "resource_class": "BM_GOLD",
        "cpus": 8,
        "memory_mb": 8192,
        "disk_gb": 100,
        "macs": [mac],
        "bmc": bmc,
    }


async def run(nodes: int, interval: float, workers: int) -> None:
    n_rf = nodes - nodes // 2
    systems = [SystemSpec(name=f"rf{i:04d}") for i in range(n_rf)]
    ipmi_specs = [IpmiNodeSpec(name=f"ip{i:04d}") for i in range(nodes // 2)]
    with tempfile.TemporaryDirectory(prefix="bench-powersync-") as tmp:
        settings = HwmgrSettings(
            data_dir=Path(tmp),
            port=0,
            token=SecretStr(TOKEN),
            secret_key=SecretStr(Fernet.generate_key().decode()),
            power_sync_interval_seconds=0,
            log_level="warning",
        )
        async with RedfishEmulator(systems, power_delay=0) as rf, IpmiEmulator(ipmi_specs) as ipmi:
            service = HwmgrService(settings, host_id="bench")
            await service.start()
            headers = {"X-Auth-Token": TOKEN}
            async with httpx.AsyncClient(base_url=service.url, headers=headers, timeout=120) as c:
                bodies = []
                for i, s in enumerate(systems):
                    bmc = {
                        "driver": "redfish",
                        "address": rf.host,
                        "port": rf.port,
                        "system_id": s.uuid,
                        "username": rf.username,
                        "password": rf.password.get_secret_value(),
                    }
                    bodies.append(_body(i, s.name, bmc))
                for j, spec in enumerate(ipmi_specs):
                    bmc = {
                        "driver": "ipmi",
                        "address": ipmi.address,
                        "port": ipmi.port(spec.name),
                        "username": spec.username,
                        "password": spec.password.get_secret_value(),
                    }
                    bodies.append(_body(n_rf + j, spec.name, bmc))
                began = time.monotonic()
                await _enroll_all(c, bodies)
                print(f"N={nodes}: enrolled and managed in {time.monotonic() - began:.1f} s")
            state = service.state
            assert state is not None
            for label, every in (("unpaced", 0.0), (f"paced {interval:g} s", interval)):
                stamps: list[float] = []

                def factory(target: BMCTarget, stamps: list[float] = stamps) -> BMCLike:
                    return _Counted(service.sync_bmc_factory(target), stamps)

                sync = PowerSync(state.db, state.box, factory, interval=every, workers=workers)
                began = time.monotonic()
                result = await sync.sync_once()
                took = time.monotonic() - began
                per_s = collections.Counter(int(t - began) for t in stamps)
                print(
                    f"  {label}: pass {took:.1f} s, {result.read} read, {result.failed} failed; "
                    f"BMC reads/s mean {len(stamps) / max(took, 1e-9):.1f}, "
                    f"peak second {max(per_s.values()) if per_s else 0}"
                    + (f"; per minute: {len(stamps) * 60 / max(every, took):.0f}" if every else "")
                )
            await service.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, nargs="+", default=[200])
    parser.add_argument("--interval", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    for n in args.nodes:
        asyncio.run(run(n, args.interval, args.workers))


if __name__ == "__main__":
    main()
