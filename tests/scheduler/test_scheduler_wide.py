"""Wide VM requests (no AZ, no group) weigh a bounded list ranked by free RAM."""

from __future__ import annotations

from stockyard.scheduler import (
    GroupInfo,
    HostState,
    HostStateIndex,
    RequestSpec,
    Scheduler,
)
from stockyard.scheduler.index import CandidateScope
from stockyard.scheduler.registry import SchedulerConfig


def _hosts(
    n: int, *, used_step: int = 1024, regions: tuple[str, ...] = ("R1", "R2")
) -> list[HostState]:
    """``n`` hypervisors, host k with ``k * used_step`` MB of its 64 GB used."""
    return [
        HostState(
            uuid=f"h{k:03d}",
            name=f"h{k:03d}",
            region=regions[k % len(regions)],
            az=f"az{k % 3}",
            rack="r1",
            kind="vm",
            vcpus=64,
            memory_mb=65536,
            disk_gb=2000,
            memory_mb_used=k * used_step,
        )
        for k in range(n)
    ]


def _spec(uuid: str, **kw: object) -> RequestSpec:
    base: dict[str, object] = dict(project_id="p1", vcpus=2, memory_mb=4096, disk_gb=20)
    base.update(kw)
    return RequestSpec(instance_uuids=[uuid], **base)  # type: ignore[arg-type]


def _pair(hosts: int, limit: int, **config: object) -> tuple[Scheduler, Scheduler]:
    """The same fleet under a bounded scheduler and a full-scan one."""
    bounded = Scheduler(
        HostStateIndex(_hosts(hosts)), SchedulerConfig(max_candidates=limit, **config)
    )  # type: ignore[arg-type]
    full = Scheduler(HostStateIndex(_hosts(hosts)), SchedulerConfig(max_candidates=0, **config))  # type: ignore[arg-type]
    return bounded, full


def test_spread_weighs_only_the_hosts_with_most_free_ram() -> None:
    bounded, full = _pair(60, 5)
    # A fresh fleet: the same answer as a full scan.
    first = _spec("i0")
    assert (
        bounded.select(first).selections[0].host_uuid == full.select(first).selections[0].host_uuid
    )
    for i in range(1, 40):
        top5 = sorted(h.free_memory_mb for h in bounded.index)[-5:]
        chosen = bounded.index.get(bounded.select(_spec(f"i{i}")).selections[0].host_uuid)
        assert chosen is not None
        # Its free RAM before this placement was among the five largest.
        assert chosen.free_memory_mb + 4096 >= top5[0]


def test_pack_picks_the_fullest_host_that_fits() -> None:
    bounded, _ = _pair(60, 5, strategy="pack")
    # h059 has 59 GB of 64 used: 5 GB free, the fullest that still fits 4 GB.
    assert bounded.select(_spec("p0")).selections[0].host_uuid == "h059"
    # 1 GB left on h059: the next fullest that fits is h058 (6 GB free).
    assert bounded.select(_spec("p1")).selections[0].host_uuid == "h058"


def test_hosts_outside_the_bounded_list_are_used_when_those_inside_fail() -> None:
    bounded, full = _pair(40, 5)
    for sched in (bounded, full):
        for k in range(10):  # the ten emptiest hosts go down
            host = sched.index.get(f"h{k:03d}")
            assert host is not None
            host.up = False
    a = bounded.select(_spec("x")).selections[0]
    b = full.select(_spec("x")).selections[0]
    assert a.host_uuid == b.host_uuid == "h010"


def test_no_valid_host_message_is_the_full_scans() -> None:
    bounded, full = _pair(40, 5)
    huge = {"memory_mb": 70000}
    a = bounded.select(_spec("big", **huge)).failures["big"]
    b = full.select(_spec("big", **huge)).failures["big"]
    assert str(a) == str(b)
    assert "40 hosts considered" in str(a)


def test_many_placements_with_a_stale_ranking_never_overcommit() -> None:
    # 30 hosts with room for 16 x 4 GB each; 480 placements, ranking re-sorted lazily.
    sched = Scheduler(HostStateIndex(_hosts(30, used_step=0)), SchedulerConfig(max_candidates=3))
    for i in range(480):
        assert sched.select(_spec(f"s{i}")).ok, f"placement {i} failed"
    assert all(h.free_memory_mb >= 0 for h in sched.index)
    assert all(h.free_memory_mb == 0 for h in sched.index)
    assert not sched.select(_spec("one-too-many")).ok


def test_group_requests_still_see_every_host() -> None:
    # Soft affinity to a member on the fullest host: only a full scan finds that host.
    sched = Scheduler(HostStateIndex(_hosts(40)), SchedulerConfig(max_candidates=3))
    group = GroupInfo(
        uuid="g", name="g", policy="soft-affinity", failure_domain="host", member_hosts={"h039": 1}
    )
    assert sched.select(_spec("m", group=group)).selections[0].host_uuid == "h039"


def test_index_ranking_by_free_ram_respects_the_scope() -> None:
    index = HostStateIndex(_hosts(30))
    scope = CandidateScope()
    scope.restrict_pool("vm", None)
    scope.restrict_region("R2")
    most = index.by_free_ram(scope, 3, most_free=True)
    assert [h.uuid for h in most] == ["h001", "h003", "h005"]
    fullest = index.by_free_ram(scope, 2, most_free=False, at_least=10 * 1024)
    assert [h.uuid for h in fullest] == ["h029", "h027"]
