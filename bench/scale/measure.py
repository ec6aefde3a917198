"""Scheduler figures on the generated cloud, through the real code: the host-state load
(``HostStateCache.refresh``), ``request_spec`` (group members read from the database),
``Scheduler.select``, and the claim transaction (``claims.lock_group`` + ``claim_many``).

The decision-plus-claim transaction is the core of ``burst.place_pass`` for one request
(group lock, members under the lock, select, conditional host UPDATE, allocation row);
the pass's lease renewal, port step and spawn message are not part of it.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import random
import statistics
import time
import uuid
from dataclasses import dataclass
from typing import Any

import psutil
from sqlalchemy import select

from stockyard.db.base import Database
from stockyard.db.models import Instance, ServerGroup
from stockyard.placement import claims
from stockyard.placement.hoststate import HostStateCache
from stockyard.placement.spec import request_spec
from stockyard.scheduler import HostStateIndex, RequestSpec, Scheduler, SchedulerConfig

from .layout import BM_FLAVORS, VM_FLAVORS

# No agent reports in the simulation: every host counts as up, however old its last_seen.
UP_SECONDS = 10 * 365 * 86400.0


def rss_mb(pid: int | None = None) -> float:
    """Resident memory of a process and its children, MiB."""
    proc = psutil.Process(pid)
    procs = [proc, *proc.children(recursive=True)]
    return float(sum(p.memory_info().rss for p in procs)) / 2**20


def pct(values: list[float], q: float) -> float:
    """The ``q``-th percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q / 100))]


@dataclass
class Loaded:
    db: Database
    scheduler: Scheduler
    cache: HostStateCache
    seconds: float
    rss_before: float
    rss_after: float


async def load(url: str) -> Loaded:
    """A scheduler's start: every host state loaded from the database into its index."""
    db = Database(url)
    scheduler = Scheduler(HostStateIndex(), SchedulerConfig())
    cache = HostStateCache(db, scheduler, UP_SECONDS)
    before = rss_mb()
    t0 = time.perf_counter()
    await cache.refresh()
    return Loaded(db, scheduler, cache, time.perf_counter() - t0, before, rss_mb())


@dataclass
class Request:
    """One create of one instance: its (transient) row and its group, if any."""

    row: Instance
    group: ServerGroup | None


async def requests(db: Database, n: int, seed: int) -> list[Request]:
    """``n`` single-instance creates, VM and baremetal alternately, each adding a member
    to an existing hard rack anti-affinity group of its kind, in the AZ and with the
    flavor of the group's members (a group scaling out); every third VM request asks for
    the ``ssd`` aggregate's flavor instead."""
    rng = random.Random(seed)
    async with db.session() as s:
        groups = list(
            (
                await s.scalars(select(ServerGroup).where(ServerGroup.policy == "anti-affinity"))
            ).all()
        )
        seen = (
            await s.execute(
                select(Instance.group_uuid, Instance.availability_zone, Instance.flavor_id).where(
                    Instance.group_uuid.is_not(None)
                )
            )
        ).all()
    where = {g: (az, fid) for g, az, fid in seen}
    by_kind: dict[str, list[ServerGroup]] = {"vm": [], "baremetal": []}
    for g in groups:
        if g.uuid in where:
            by_kind["baremetal" if g.name.startswith("baremetal-") else "vm"].append(g)
    flavors = {f[0]: f for f in (*VM_FLAVORS, *BM_FLAVORS)}
    out: list[Request] = []
    for i in range(n):
        kind = "baremetal" if i % 2 and by_kind["baremetal"] else "vm"
        group = rng.choice(by_kind[kind])
        az, fid = where[group.uuid]
        if kind == "vm" and i % 3 == 0:
            fid = VM_FLAVORS[3][0]
        fid, name, vcpus, ram, disk, extra = flavors[fid]
        row = Instance(
            uuid=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            project_id=group.project_id,
            flavor={"id": fid, "name": name, "vcpus": vcpus, "ram": ram, "disk": disk,
                    "ephemeral": 0, "swap": 0, "extra_specs": dict(extra)},
            requested_az=az, group_uuid=group.uuid, tried_hosts=[],
            reservation_id=f"bench-{i}", block_devices=None,
        )  # fmt: skip
        out.append(Request(row, group))
    return out


async def specs(loaded: Loaded, reqs: list[Request]) -> list[RequestSpec]:
    """The RequestSpec of each request, its group's members read as placement reads them."""
    out = []
    async with loaded.db.session() as s:
        for r in reqs:
            out.append(await request_spec(s, loaded.scheduler, [r.row], r.group))
    return out


def decisions(scheduler: Scheduler, todo: list[RequestSpec]) -> tuple[list[float], list[bool]]:
    """Wall ms of each ``select``; the claim is given back after each (the state stays
    that of the database). Returns the times and whether each was refused."""
    times: list[float] = []
    refused: list[bool] = []
    for spec in todo:
        t0 = time.perf_counter()
        result = scheduler.select(spec)
        times.append((time.perf_counter() - t0) * 1000)
        refused.append(bool(result.failures))
        for uuid_ in spec.instance_uuids:
            scheduler.release(uuid_)
    return times, refused


PHASES = ("group lock", "spec (members read)", "select", "claim", "commit")


async def decide_and_claim(
    loaded: Loaded, reqs: list[Request]
) -> tuple[list[float], int, dict[str, list[float]]]:
    """Wall ms of one transaction per request: group lock, members, select, claims.
    Also the ms of each phase (:data:`PHASES`) per request, and the claims lost."""
    sched = loaded.scheduler
    ids = await _host_ids(loaded.db)
    times: list[float] = []
    phases: dict[str, list[float]] = {p: [] for p in PHASES}
    lost = 0
    for r in reqs:
        marks = [time.perf_counter()]
        async with loaded.db.session() as s:
            group = await claims.lock_group(s, r.group.uuid) if r.group else None
            marks.append(time.perf_counter())
            spec = await request_spec(s, sched, [r.row], group)
            marks.append(time.perf_counter())
            result = sched.select(spec)
            marks.append(time.perf_counter())
            todo = [
                claims.ClaimRequest(ids[sel.host_uuid], sel.instance_uuid, sel.claim.vcpus,
                                    sel.claim.memory_mb, sel.claim.disk_gb, sel.claim.whole_node)
                for sel in result.selections
            ]  # fmt: skip
            won = await claims.claim_many(s, todo) if todo else set()
            marks.append(time.perf_counter())
        marks.append(time.perf_counter())
        times.append((marks[-1] - marks[0]) * 1000)
        for k, name in enumerate(PHASES):
            phases[name].append((marks[k + 1] - marks[k]) * 1000)
        for sel in result.selections:
            if sel.instance_uuid not in won:
                lost += 1
                sched.release(sel.instance_uuid)
    return times, lost, phases


async def _host_ids(db: Database) -> dict[str, int]:
    from stockyard.db.models import Host

    async with db.session() as s:
        return {u: i for u, i in (await s.execute(select(Host.uuid, Host.id))).all()}


# -- two schedulers in two processes ---------------------------------------------------


def _worker(url: str, n: int, seed: int, barrier: Any, out: Any) -> None:
    async def prepare() -> tuple[Loaded, list[RequestSpec]]:
        loaded = await load(url)
        todo = await specs(loaded, await requests(loaded.db, n, seed))
        await loaded.db.dispose()
        return loaded, todo

    loaded, todo = asyncio.run(prepare())
    barrier.wait()
    t0 = time.perf_counter()
    times, refused = decisions(loaded.scheduler, todo)
    wall = time.perf_counter() - t0
    out.put(
        {"n": len(times), "wall": wall, "refused": sum(refused), "load_s": loaded.seconds,
         "rss": rss_mb(), "p99": pct(times, 99)}
    )  # fmt: skip


def parallel(url: str, n: int, procs: int = 2) -> list[dict[str, Any]]:
    """``procs`` scheduler processes, each loading the hosts and then deciding ``n``
    requests at the same moment; their own figures."""
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(procs)
    out = ctx.Queue()
    workers = [
        ctx.Process(target=_worker, args=(url, n, 100 + k, barrier, out)) for k in range(procs)
    ]
    for w in workers:
        w.start()
    results = [out.get(timeout=1800) for _ in workers]
    for w in workers:
        w.join()
    return results


def summary(times: list[float]) -> str:
    return (
        f"p50 {statistics.median(times):.2f} ms  p99 {pct(times, 99):.2f} ms"
        f"  max {max(times):.2f} ms  (n={len(times)})"
    )
