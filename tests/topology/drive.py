"""Drive a deployment over HTTP (many parallel creates) and read outcomes from its DB."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from tests.topology.cluster import Cluster


@dataclass
class Row:
    uuid: str
    name: str
    vm_state: str
    task_state: str | None
    host: str | None
    group_uuid: str | None
    created_at: datetime
    updated_at: datetime
    launched_at: datetime | None

    @property
    def seconds(self) -> float:
        """Time from the API's insert to the end of the build (ACTIVE or ERROR)."""
        end = _dt(self.launched_at or self.updated_at)
        return (end - _dt(self.created_at)).total_seconds()


def _dt(value: datetime | str) -> datetime:
    # Raw SQL on SQLite gives ISO strings; the other backends give datetimes.
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def server_body(name: str, flavor: str, image: str, group: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"server": {"name": name, "flavorRef": flavor, "imageRef": image}}
    if group:
        body["os:scheduler_hints"] = {"group": group}
    return body


async def create_servers(
    base_url: str,
    token: str,
    bodies: list[dict[str, Any]],
    concurrency: int = 200,
    refusals: dict[int, str] | None = None,
) -> list[int]:
    """POST every body at once (``concurrency`` in flight); return the status codes.

    ``refusals`` gets the first response body of each status other than 202."""
    sem = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=f"{base_url}/compute/v2.1",
        headers={"X-Auth-Token": token},
        timeout=120,
        limits=limits,
    ) as client:

        async def one(body: dict[str, Any]) -> int:
            async with sem:
                for _ in range(5):
                    try:
                        resp = await client.post("/servers", json=body)
                    except httpx.TransportError:
                        # A request cut by a fault under test: the client retries.
                        await asyncio.sleep(0.5)
                        continue
                    if refusals is not None and resp.status_code != 202:
                        refusals.setdefault(resp.status_code, resp.text[:300])
                    return resp.status_code
                return 0

        return list(await asyncio.gather(*(one(b) for b in bodies)))


async def rows(cluster: Cluster) -> list[Row]:
    got = await cluster.sql(
        "SELECT uuid, name, vm_state, task_state, host, group_uuid, created_at, updated_at,"
        " launched_at FROM instances WHERE deleted = false"
    )
    return [Row(*r) for r in got]


async def wait_settled(cluster: Cluster, expected: int, within: float = 240) -> list[Row]:
    """Wait until ``expected`` instances exist and none is building or has a task."""
    deadline = time.monotonic() + within
    while True:
        current = await rows(cluster)
        busy = [r for r in current if r.task_state is not None or r.vm_state == "building"]
        if len(current) >= expected and not busy:
            return current
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{len(busy)} of {len(current)} instances still in flight, e.g."
                f" {[(r.name, r.vm_state, r.task_state) for r in busy[:5]]}\n{cluster.logs()}"
            )
        await asyncio.sleep(0.5)


async def faults(cluster: Cluster) -> dict[str, str]:
    got = await cluster.sql("SELECT instance_uuid, message FROM instance_faults")
    return {str(u): str(m) for u, m in got}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
