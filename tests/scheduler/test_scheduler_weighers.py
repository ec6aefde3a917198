"""Weigher normalisation, spread vs pack, soft group weighers, plug-in registry."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from stockyard.scheduler import (
    GroupInfo,
    HostState,
    HostStateIndex,
    HostWeigher,
    RequestSpec,
    Scheduler,
    SchedulerConfig,
    SchedulingContext,
    UnknownPlugin,
    filter_class,
    register_weigher,
    weigher_class,
)
from stockyard.scheduler.registry import build_weighers
from stockyard.scheduler.weighers import (
    CPUWeigher,
    DiskWeigher,
    RAMWeigher,
    SoftAffinityWeigher,
    SoftAntiAffinityWeigher,
    combine,
    normalize,
)


def _host(uuid: str, **kw: object) -> HostState:
    base: dict[str, object] = dict(
        name=uuid,
        region="R1",
        az="az1",
        rack="r1",
        kind="vm",
        vcpus=16,
        memory_mb=32768,
        disk_gb=1000,
    )
    base.update(kw)
    return HostState(uuid=uuid, **base)  # type: ignore[arg-type]


def _spec(**kw: object) -> RequestSpec:
    base: dict[str, object] = dict(project_id="p", vcpus=1, memory_mb=1024, disk_gb=10)
    base.update(kw)
    return RequestSpec(instance_uuids=["i"], **base)  # type: ignore[arg-type]


def test_normalize() -> None:
    assert normalize([]) == []
    assert normalize([5, 5, 5]) == [0.0, 0.0, 0.0]
    assert normalize([0, 5, 10]) == [0.0, 0.5, 1.0]
    assert normalize([-4, -2]) == [0.0, 1.0]


def test_resource_weighers_raw_values() -> None:
    h = _host("a", vcpus_used=4, memory_mb_used=2048, disk_gb_used=100, cpu_allocation_ratio=2.0)
    spec = _spec()
    ctx = SchedulingContext.for_request(spec, HostStateIndex([h]))
    assert RAMWeigher().weigh(h, spec, ctx) == 30720
    assert CPUWeigher().weigh(h, spec, ctx) == 28
    assert DiskWeigher().weigh(h, spec, ctx) == 900
    for w in (RAMWeigher(), CPUWeigher(), DiskWeigher()):
        assert w.weigh_all([h], spec, ctx) == [w.weigh(h, spec, ctx)]


def test_combine_normalises_each_weigher_then_applies_multiplier() -> None:
    # RAM differs by MBs, CPU by units: after normalisation both count 0..1.
    a = _host("a", memory_mb_used=0, vcpus_used=16)
    b = _host("b", memory_mb_used=30000, vcpus_used=0)
    c = _host("c", memory_mb_used=15000, vcpus_used=8)
    spec = _spec()
    ctx = SchedulingContext.for_request(spec, HostStateIndex([a, b, c]))
    totals = combine([RAMWeigher(1.0), CPUWeigher(1.0)], [a, b, c], spec, ctx)
    assert totals == pytest.approx([1.0, 1.0, 1.0], abs=0.01)
    totals = combine([RAMWeigher(2.0), CPUWeigher(1.0)], [a, b, c], spec, ctx)
    assert totals[0] == pytest.approx(2.0) and totals[1] == pytest.approx(1.0)
    # three and four weighers take the fused paths
    totals = combine(
        [RAMWeigher(1.0), CPUWeigher(1.0), DiskWeigher(1.0), RAMWeigher(1.0)], [a, b, c], spec, ctx
    )
    assert totals[0] == pytest.approx(2.0)
    assert combine([RAMWeigher()], [a], spec, ctx) == [0.0]
    assert combine([DiskWeigher()], [a, b], spec, ctx) == [0.0, 0.0]  # equal disk


def _two_hosts() -> tuple[HostState, HostState]:
    return _host("full", memory_mb_used=30000, vcpus_used=14, disk_gb_used=900), _host("empty")


def test_spread_prefers_emptiest_host() -> None:
    full, empty = _two_hosts()
    scheduler = Scheduler(HostStateIndex([full, empty]), SchedulerConfig(strategy="spread"))
    result = scheduler.select(_spec())
    assert result.selections[0].host_uuid == "empty"


def test_pack_prefers_fullest_host_that_fits() -> None:
    full, empty = _two_hosts()
    scheduler = Scheduler(HostStateIndex([full, empty]), SchedulerConfig(strategy="pack"))
    assert scheduler.select(_spec()).selections[0].host_uuid == "full"
    weighers = build_weighers(SchedulerConfig(strategy="pack"))
    mults = {w.name: w.multiplier for w in weighers}
    assert mults["RAMWeigher"] < 0 and mults["SoftAntiAffinityWeigher"] > 0


def _group_ctx(
    policy: str, level: str, members: dict[str, int], *hosts: HostState
) -> tuple[RequestSpec, SchedulingContext]:
    group = GroupInfo("g", "web", policy, level, member_hosts=members)  # type: ignore[arg-type]
    spec = _spec(group=group)
    return spec, SchedulingContext.for_request(spec, HostStateIndex(hosts))


def test_soft_anti_affinity_weigher_prefers_fewest_members() -> None:
    a, b, c = _host("a", rack="r1"), _host("b", rack="r1"), _host("c", rack="r2")
    spec, ctx = _group_ctx("soft-anti-affinity", "rack", {"a": 2}, a, b, c)
    w = SoftAntiAffinityWeigher()
    assert w.applies(spec, ctx)
    raw = w.weigh_all([a, b, c], spec, ctx)
    assert raw == [w.weigh(h, spec, ctx) for h in (a, b, c)]
    assert raw[2] > raw[1] > raw[0]  # empty rack, then empty host of used rack
    spec2, ctx2 = _group_ctx("soft-affinity", "rack", {"a": 1}, a)
    assert not w.applies(spec2, ctx2)


def test_soft_affinity_weigher_prefers_most_members() -> None:
    a, b, c = _host("a", rack="r1"), _host("b", rack="r1"), _host("c", rack="r2")
    spec, ctx = _group_ctx("soft-affinity", "rack", {"a": 2}, a, b, c)
    w = SoftAffinityWeigher()
    assert w.applies(spec, ctx)
    raw = w.weigh_all([a, b, c], spec, ctx)
    assert raw == [2.0, 2.0, 0.0] == [w.weigh(h, spec, ctx) for h in (a, b, c)]


class _PreferNamedB(HostWeigher):
    name = "PreferNamedB"

    def weigh(self, host: HostState, spec: RequestSpec, ctx: SchedulingContext) -> float:
        return 1.0 if host.name == "b" else 0.0

    def weigh_all(
        self, hosts: Sequence[HostState], spec: RequestSpec, ctx: SchedulingContext
    ) -> list[float]:
        return super().weigh_all(hosts, spec, ctx)


def test_registry_lookup_and_custom_weigher() -> None:
    assert filter_class("ResourceFilter").name == "ResourceFilter"
    assert weigher_class("RAMWeigher") is RAMWeigher
    with pytest.raises(UnknownPlugin):
        filter_class("NoSuchFilter")
    with pytest.raises(UnknownPlugin):
        weigher_class("NoSuchWeigher")
    register_weigher(_PreferNamedB)
    hosts = [_host("a"), _host("b", memory_mb_used=20000)]
    config = SchedulerConfig(weighers={"RAMWeigher": 1.0, "PreferNamedB": 10.0})
    scheduler = Scheduler(HostStateIndex(hosts), config)
    assert scheduler.select(_spec()).selections[0].host_uuid == "b"


def test_config_with_unknown_filter_fails_at_construction() -> None:
    with pytest.raises(UnknownPlugin):
        Scheduler(config=SchedulerConfig(filters=["ComputeFilter", "Bogus"]))


class _FakeEntryPoint:
    def __init__(self, name: str, target: object) -> None:
        self.name, self._target = name, target

    def load(self) -> object:
        return self._target


def test_entry_point_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    from stockyard.scheduler import registry
    from stockyard.scheduler.filters import ComputeFilter

    class OnlyHostA(ComputeFilter):
        name = "OnlyHostA"

        def host_passes(self, host: HostState, spec: RequestSpec, ctx: SchedulingContext) -> bool:
            return host.uuid == "a"

        def filter_all(
            self, hosts: list[HostState], spec: RequestSpec, ctx: SchedulingContext
        ) -> list[HostState]:
            return [h for h in hosts if self.host_passes(h, spec, ctx)]

    def fake_entry_points(group: str) -> list[_FakeEntryPoint]:
        if group == registry.FILTER_GROUP:
            return [_FakeEntryPoint("OnlyHostA", OnlyHostA), _FakeEntryPoint("Broken", 42)]
        return []

    monkeypatch.setattr(registry, "entry_points", fake_entry_points)
    monkeypatch.setattr(registry, "FILTERS", dict(registry.FILTERS))
    assert filter_class("OnlyHostA") is OnlyHostA
    with pytest.raises(UnknownPlugin, match="not a HostFilter"):
        filter_class("Broken")
    config = SchedulerConfig(filters=["ResourceFilter", "OnlyHostA"])
    scheduler = Scheduler(HostStateIndex([_host("b"), _host("a")]), config)
    result = scheduler.select(_spec())
    assert result.selections[0].host_uuid == "a"
    failed = scheduler.select(_spec(vcpus=1000))
    assert "ResourceFilter (not enough vCPU)" in str(failed.failures["i"])
