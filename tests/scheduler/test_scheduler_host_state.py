"""HostState arithmetic, failure domains, claims; HostStateIndex subsets."""

from __future__ import annotations

import pytest

from stockyard.scheduler import CandidateScope, Claim, HostState, HostStateIndex


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


def test_free_resources_apply_allocation_ratios() -> None:
    h = _host(
        "h",
        vcpus_used=10,
        memory_mb_used=1024,
        disk_gb_used=50,
        cpu_allocation_ratio=4.0,
        ram_allocation_ratio=1.5,
        disk_allocation_ratio=1.0,
    )
    assert h.free_vcpus == 8 * 4.0 - 10
    assert h.free_memory_mb == 16384 * 1.5 - 1024
    assert h.free_disk_gb == 50


def test_failure_domain_keys_are_qualified() -> None:
    a = _host("a", az="az1", rack="r1")
    b = _host("b", az="az2", rack="r1")
    assert a.failure_domain("host") == "a"
    assert a.failure_domain("rack") != b.failure_domain("rack")
    assert a.failure_domain("rack") == "R1/az1/r1"
    assert a.failure_domain("az") == "R1/az1"
    assert a.failure_domain("region") == b.failure_domain("region") == "R1"
    c = _host("c", region="R2", az="az1", rack="r1")
    assert a.failure_domain("az") != c.failure_domain("az")
    with pytest.raises(ValueError):
        a.failure_domain("row")  # type: ignore[arg-type]


def test_consume_and_release_vm_claim() -> None:
    h = _host("h")
    claim = h.make_claim("i1", 2, 2048, 20)
    h.consume(claim)
    assert (h.vcpus_used, h.memory_mb_used, h.disk_gb_used) == (2, 2048, 20)
    assert h.instances == {"i1"}
    h.release(claim)
    assert (h.vcpus_used, h.memory_mb_used, h.disk_gb_used) == (0, 0, 0)
    assert not h.instances
    h.release(claim)  # never below zero
    assert h.vcpus_used == 0


def test_baremetal_claim_takes_whole_node() -> None:
    n = _host("n", kind="baremetal", resource_class="BM_GOLD")
    claim = n.make_claim("i1", 1, 1, 1)
    assert claim.whole_node and (claim.vcpus, claim.memory_mb, claim.disk_gb) == (8, 16384, 100)
    n.consume(claim)
    assert n.free_vcpus == 0 and n.free_memory_mb == 0 and n.free_disk_gb == 0


def test_claim_for_other_host_is_refused() -> None:
    h = _host("h")
    with pytest.raises(ValueError):
        h.consume(Claim("i", "other", 1, 1, 1))
    with pytest.raises(ValueError):
        h.release(Claim("i", "other", 1, 1, 1))


def test_comma_separated_metadata_is_split() -> None:
    h = _host("h", aggregate_metadata={"cpu": {"icelake, sapphire"}, "ssd": {"true"}})
    assert h.aggregate_metadata == {"cpu": {"icelake", "sapphire"}, "ssd": {"true"}}


def _fleet() -> HostStateIndex:
    hosts = [
        _host("v1", az="az1", rack="r1"),
        _host("v2", az="az1", rack="r2"),
        _host("v3", az="az2", rack="r1"),
        _host("v4", region="R2", az="az1", rack="r1"),
        _host("b1", kind="baremetal", resource_class="BM_GOLD", az="az1", rack="r1"),
        _host("b2", kind="baremetal", resource_class="BM_GOLD", az="az2", rack="r1"),
        _host("b3", kind="baremetal", resource_class="BM_SILVER", az="az1", rack="r2"),
    ]
    return HostStateIndex(hosts)


def _uuids(hosts: list[HostState]) -> set[str]:
    return {h.uuid for h in hosts}


def test_index_subsets_by_kind_class_region_az() -> None:
    idx = _fleet()
    assert len(idx) == 7
    assert _uuids(idx.hosts(kind="vm")) == {"v1", "v2", "v3", "v4"}
    assert _uuids(idx.hosts(kind="vm", az="az1")) == {"v1", "v2", "v4"}
    assert _uuids(idx.hosts(kind="vm", region="R1", az="az1")) == {"v1", "v2"}
    assert _uuids(idx.hosts(kind="baremetal", resource_class="BM_GOLD")) == {"b1", "b2"}
    assert _uuids(idx.hosts(kind="baremetal", resource_class="BM_GOLD", az="az1")) == {"b1"}
    assert _uuids(idx.hosts(az="az2")) == {"v3", "b2"}
    assert _uuids(idx.rack("R1", "az1", "r1")) == {"v1", "b1"}
    assert idx.racks(region="R1", az="az1") == ["R1/az1/r1", "R1/az1/r2"]
    assert idx.racks(az="az1") == ["R1/az1/r1", "R1/az1/r2", "R2/az1/r1"]


def test_index_scope_count_matches_select() -> None:
    idx = _fleet()
    scope = CandidateScope()
    scope.restrict_pool("vm", None)
    scope.restrict_az("az1")
    assert idx.count(scope) == len(idx.select(scope)) == 3
    scope.restrict_hosts(["v1", "v3", "b1"])
    assert _uuids(idx.select(scope)) == {"v1"}
    assert idx.count(scope) == 1
    scope.restrict_az("az2")
    assert scope.empty and idx.select(scope) == [] and idx.count(scope) == 0


def test_index_scope_conflicting_pool_is_empty() -> None:
    scope = CandidateScope()
    scope.restrict_pool("vm", None)
    scope.restrict_pool("baremetal", "BM_GOLD")
    assert scope.empty


def test_index_upsert_moves_and_remove_unlinks() -> None:
    idx = _fleet()
    idx.upsert(_host("v1", az="az2", rack="r9"))
    assert _uuids(idx.hosts(kind="vm", region="R1", az="az1")) == {"v2"}
    assert _uuids(idx.rack("R1", "az2", "r9")) == {"v1"}
    assert idx.rack("R1", "az1", "r1")[0].uuid == "b1"
    assert idx.by_name("v1") is idx.get("v1")
    removed = idx.remove("v1")
    assert removed is not None and "v1" not in idx
    assert idx.by_name("v1") is None
    assert idx.rack("R1", "az2", "r9") == []
    assert idx.remove("nope") is None
    assert len(list(idx)) == 6
