"""Every built-in filter, passing and rejecting."""

from __future__ import annotations

from stockyard.scheduler import (
    GroupInfo,
    HostState,
    HostStateIndex,
    RequestSpec,
    SchedulingContext,
)
from stockyard.scheduler.filters import (
    AggregateInstanceExtraSpecsFilter,
    AvailabilityZoneFilter,
    ComputeFilter,
    ForcedHostFilter,
    IgnoreHostsFilter,
    ResourceFilter,
    ServerGroupAffinityFilter,
    ServerGroupAntiAffinityFilter,
    StockFilter,
)
from stockyard.scheduler.filters.aggregate import aggregate_requirements
from stockyard.scheduler.filters.extra_specs import match
from stockyard.scheduler.filters.hosts import parse_forced_host
from stockyard.scheduler.index import CandidateScope


def _host(uuid: str, **kw: object) -> HostState:
    base: dict[str, object] = dict(
        name=uuid,
        region="R1",
        az="az1",
        rack="r1",
        kind="vm",
        vcpus=8,
        memory_mb=16384,
        disk_gb=100,
    )
    base.update(kw)
    return HostState(uuid=uuid, **base)  # type: ignore[arg-type]


def _bm(uuid: str, **kw: object) -> HostState:
    kw.setdefault("owner_project", "p1")
    return _host(uuid, kind="baremetal", resource_class="BM_GOLD", **kw)


def _spec(**kw: object) -> RequestSpec:
    base: dict[str, object] = dict(project_id="p1", vcpus=2, memory_mb=4096, disk_gb=20)
    base.update(kw)
    return RequestSpec(instance_uuids=["i1"], **base)  # type: ignore[arg-type]


def _ctx(spec: RequestSpec, *hosts: HostState) -> SchedulingContext:
    return SchedulingContext.for_request(spec, HostStateIndex(hosts))


def _check(f: object, host: HostState, spec: RequestSpec, ctx: SchedulingContext) -> bool:
    """host_passes and filter_all must agree."""
    from stockyard.scheduler.filters import HostFilter

    assert isinstance(f, HostFilter)
    single = f.host_passes(host, spec, ctx)
    assert (f.filter_all([host], spec, ctx) == [host]) == single
    return single


def test_compute_filter() -> None:
    spec = _spec()
    up, disabled, down = _host("a"), _host("b", enabled=False), _host("c", up=False)
    ctx = _ctx(spec, up, disabled, down)
    f = ComputeFilter()
    assert _check(f, up, spec, ctx)
    assert not _check(f, disabled, spec, ctx)
    assert not _check(f, down, spec, ctx)
    assert f.describe([disabled, down], spec, ctx) == "1 disabled, 1 down"
    assert f.describe([down], spec, ctx) == "agent down"


def test_availability_zone_filter_and_narrowing() -> None:
    spec = _spec(availability_zone="az1")
    a, b = _host("a", az="az1"), _host("b", az="az2")
    ctx = _ctx(spec, a, b)
    f = AvailabilityZoneFilter()
    assert _check(f, a, spec, ctx)
    assert not _check(f, b, spec, ctx)
    scope = CandidateScope()
    narrowing = f.narrow(scope, spec, ctx)
    assert narrowing is not None and narrowing.reason == "not in az1" and narrowing.complete
    assert ctx.index.select(scope) == [a]
    assert not f.applies(_spec(), ctx)
    regional = _spec(region="R2")
    assert not f.host_passes(a, regional, ctx)


def test_resource_filter_vm_capacity_with_ratios() -> None:
    f = ResourceFilter()
    spec = _spec(vcpus=4, memory_mb=8192, disk_gb=50)
    roomy = _host("a", vcpus=2, cpu_allocation_ratio=4.0)  # 8 vCPU after the ratio
    no_ram = _host("b", memory_mb_used=10000)
    no_cpu = _host("c", vcpus_used=6)
    no_disk = _host("d", disk_gb_used=60)
    node = _bm("n")
    ctx = _ctx(spec, roomy, no_ram, no_cpu, no_disk, node)
    assert _check(f, roomy, spec, ctx)
    for h in (no_ram, no_cpu, no_disk, node):
        assert not _check(f, h, spec, ctx)
    assert f.describe([no_ram], spec, ctx) == "not enough RAM"
    assert f.describe([no_cpu, no_disk, no_ram, no_ram], spec, ctx) == (
        "not enough RAM: 2, not enough vCPU: 1, not enough disk: 1"
    )


def test_resource_filter_baremetal_whole_free_node_of_class() -> None:
    f = ResourceFilter()
    spec = _spec(resource_class="BM_GOLD")
    free, used = _bm("a"), _bm("b", instances={"x"})
    silver = _host("c", kind="baremetal", resource_class="BM_SILVER", owner_project="p1")
    hv = _host("d", vcpus=1000)
    ctx = _ctx(spec, free, used, silver, hv)
    assert _check(f, free, spec, ctx)
    for h in (used, silver, hv):
        assert not _check(f, h, spec, ctx)
    assert f.describe([used], spec, ctx) == "node in use"
    scope = CandidateScope()
    narrowing = f.narrow(scope, spec, ctx)
    assert narrowing.reason == "not a BM_GOLD node" and not narrowing.complete
    assert {h.uuid for h in ctx.index.select(scope)} == {"a", "b"}


def test_stock_filter() -> None:
    f = StockFilter()
    spec = _spec(resource_class="BM_GOLD", project_id="p1")
    mine, theirs, nobody = _bm("a"), _bm("b", owner_project="p2"), _bm("c", owner_project=None)
    hv = _host("h")
    ctx = _ctx(spec, mine, theirs, nobody, hv)
    assert _check(f, mine, spec, ctx)
    assert not _check(f, theirs, spec, ctx)
    assert not _check(f, nobody, spec, ctx)
    assert _check(f, hv, _spec(), ctx)
    assert f.describe([nobody], spec, ctx) == "not in any project's stock"
    assert "another project" in f.describe([theirs, nobody], spec, ctx)


def test_aggregate_requirements_scope_rules() -> None:
    reqs = aggregate_requirements(
        {
            "aggregate_instance_extra_specs:ssd": "true",
            "gpu": "yes",
            "hw:cpu_policy": "dedicated",
            "resources:VCPU": "0",
            "trait:CUSTOM_X": "required",
        }
    )
    assert reqs == (("ssd", "true"), ("gpu", "yes"))


def test_aggregate_filter_matches_metadata() -> None:
    f = AggregateInstanceExtraSpecsFilter()
    spec = _spec(extra_specs={"aggregate_instance_extra_specs:ssd": "true", "hw:x": "1"})
    ssd = _host("a", aggregate_metadata={"ssd": {"true"}})
    multi = _host("b", aggregate_metadata={"ssd": {"false,true"}})
    hdd = _host("c", aggregate_metadata={"ssd": {"false"}})
    none = _host("d")
    ctx = _ctx(spec, ssd, multi, hdd, none)
    assert _check(f, ssd, spec, ctx)
    assert _check(f, multi, spec, ctx)
    assert not _check(f, hdd, spec, ctx)
    assert not _check(f, none, spec, ctx)
    assert f.describe([hdd, none], spec, ctx) == "no aggregate with ssd=true"


def test_aggregate_filter_skipped_without_requirements() -> None:
    f = AggregateInstanceExtraSpecsFilter()
    spec = _spec(extra_specs={"hw:cpu_policy": "dedicated"})
    ctx = _ctx(spec)
    assert not f.applies(spec, ctx)
    h = _host("a")
    assert f.filter_all([h], spec, ctx) == [h]


def test_aggregate_filter_operators() -> None:
    f = AggregateInstanceExtraSpecsFilter()
    spec = _spec(extra_specs={"cpu_model": "<in> icelake", "net_gbps": ">= 25"})
    fast = _host("a", aggregate_metadata={"cpu_model": {"xeon-icelake"}, "net_gbps": {"100"}})
    slow = _host("b", aggregate_metadata={"cpu_model": {"xeon-icelake"}, "net_gbps": {"10"}})
    ctx = _ctx(spec, fast, slow)
    assert _check(f, fast, spec, ctx)
    assert not _check(f, slow, spec, ctx)


def test_extra_spec_operators() -> None:
    assert match("true", "true") and not match("True", "true")
    assert match("100", "= 50") and not match("10", "= 50")
    assert match("50", "== 50.0") and match("5", "!= 6")
    assert match("4", "<= 4") and match("4", ">= 4") and not match("abc", ">= 4")
    assert match("abc", "s== abc") and match("abd", "s> abc") and match("abb", "s< abc")
    assert match("abc", "s!= abd") and match("abc", "s>= abc") and match("abc", "s<= abc")
    assert match("foo-bar", "<in> bar") and not match("foo", "<in> bar")
    assert match("a b c", "<all-in> a c") and not match("a b", "<all-in> a c")
    assert match("b", "<or> a <or> b") and not match("c", "<or> a <or> b")
    assert not match("x", "s==")


def test_forced_host_filter() -> None:
    f = ForcedHostFilter()
    assert parse_forced_host("az1:h1") == ("az1", "h1")
    assert parse_forced_host(":h1") == (None, "h1")
    assert parse_forced_host("az1") == ("az1", None)
    assert parse_forced_host("az1:h1:node") == ("az1", "h1")
    spec = _spec(forced_host="az1:h1")
    target, other, wrong_az = _host("u1", name="h1"), _host("u2", name="h2"), _host("u3")
    ctx = _ctx(spec, target, other)
    assert _check(f, target, spec, ctx)
    assert not _check(f, other, spec, ctx)
    assert not f.host_passes(_host("x", name="h1", az="az9"), spec, ctx)
    scope = CandidateScope()
    narrowing = f.narrow(scope, spec, ctx)
    assert narrowing is not None and ctx.index.select(scope) == [target]
    missing = _spec(forced_host="az1:nope")
    scope = CandidateScope()
    narrowing = f.narrow(scope, missing, ctx)
    assert narrowing is not None and "does not exist" in narrowing.reason and scope.empty
    assert not f.applies(_spec(), ctx) and wrong_az.az == "az1"


def test_ignore_hosts_filter() -> None:
    f = IgnoreHostsFilter()
    spec = _spec(ignore_hosts={"u1", "h3"})
    a, b, c = _host("u1"), _host("u2"), _host("u3", name="h3")
    ctx = _ctx(spec, a, b, c)
    assert not _check(f, a, spec, ctx)
    assert _check(f, b, spec, ctx)
    assert not _check(f, c, spec, ctx)
    assert not f.applies(_spec(), ctx)


def _group(policy: str, level: str = "host", **kw: object) -> GroupInfo:
    return GroupInfo(uuid="g", name="web", policy=policy, failure_domain=level, **kw)  # type: ignore[arg-type]


def test_anti_affinity_filter_per_level() -> None:
    f = ServerGroupAntiAffinityFilter()
    a = _host("a", rack="r1")
    b = _host("b", rack="r1")
    c = _host("c", rack="r2")
    d = _host("d", az="az2", rack="r1")  # same rack name, other AZ: other domain
    for level, passing in (
        ("host", {"b", "c", "d"}),
        ("rack", {"c", "d"}),
        ("az", {"d"}),
        ("region", set()),
    ):
        spec = _spec(group=_group("anti-affinity", level, member_hosts={"a": 1}))
        ctx = _ctx(spec, a, b, c, d)
        assert f.applies(spec, ctx)
        assert {h.uuid for h in (a, b, c, d) if _check(f, h, spec, ctx)} == passing, level


def test_anti_affinity_max_server_per_host() -> None:
    f = ServerGroupAntiAffinityFilter()
    a, b = _host("a"), _host("b")
    spec = _spec(
        group=_group("anti-affinity", max_server_per_host=2, member_hosts={"a": 1, "b": 2})
    )
    ctx = _ctx(spec, a, b)
    assert _check(f, a, spec, ctx)
    assert not _check(f, b, spec, ctx)


def test_anti_affinity_describe_names_level_and_domains() -> None:
    f = ServerGroupAntiAffinityFilter()
    a, b = _bm("a", rack="r1"), _bm("b", rack="r2")
    spec = _spec(
        resource_class="BM_GOLD",
        availability_zone="az1",
        group=GroupInfo("g", "db", "anti-affinity", "rack", member_hosts={"a": 1, "b": 1}),
    )
    ctx = _ctx(spec, a, b)
    ctx.passed_count = 0
    text = f.describe([a, b], spec, ctx)
    assert text.startswith("only 2 racks have free BM_GOLD stock in az1 for group db")
    assert "rack r1 (az1)" in text and "rack r2 (az1)" in text
    ctx.passed_count = 3
    assert (
        f.describe([a], spec, ctx) == "a member of group db already in failure domain rack r1 (az1)"
    )


def test_affinity_filter() -> None:
    f = ServerGroupAffinityFilter()
    a, b, c = _host("a", rack="r1"), _host("b", rack="r1"), _host("c", rack="r2")
    empty = _spec(group=_group("affinity", "rack"))
    ctx = _ctx(empty, a, b, c)
    assert all(_check(f, h, empty, ctx) for h in (a, b, c))
    spec = _spec(group=_group("affinity", "rack", member_hosts={"a": 1}))
    ctx = _ctx(spec, a, b, c)
    assert _check(f, a, spec, ctx) and _check(f, b, spec, ctx)
    assert not _check(f, c, spec, ctx)
    assert "with group web" in f.describe([c], spec, ctx)
    host_level = _spec(group=_group("affinity", "host", member_hosts={"a": 1}))
    ctx = _ctx(host_level, a, b, c)
    scope = CandidateScope()
    assert f.narrow(scope, host_level, ctx) is not None
    assert ctx.index.select(scope) == [a]
    soft = _spec(group=_group("soft-affinity"))
    assert not f.applies(soft, _ctx(soft, a))
