"""Scheduler.select: batches, group policies, rollback, baremetal stock, faults."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from stockyard.scheduler import (
    FailureDomainLevel,
    GroupInfo,
    HostState,
    HostStateIndex,
    NoValidHost,
    Rejection,
    RequestSpec,
    Scheduler,
)

REGIONS, AZS, RACKS, PER_RACK = ("R1", "R2"), ("az1", "az2"), ("r1", "r2"), 2


def _fleet(**kw: object) -> list[HostState]:
    """2 regions x 2 AZs x 2 racks x 2 hosts = 16 hypervisors (AZ names repeat per region)."""
    hosts = []
    for region in REGIONS:
        for az in AZS:
            for rack in RACKS:
                for n in range(PER_RACK):
                    uuid = f"{region}-{az}-{rack}-h{n}"
                    base: dict[str, object] = dict(
                        vcpus=16, memory_mb=32768, disk_gb=500, kind="vm"
                    )
                    base.update(kw)
                    hosts.append(
                        HostState(uuid=uuid, name=uuid, region=region, az=az, rack=rack, **base)  # type: ignore[arg-type]
                    )
    return hosts


def _spec(n: int = 1, prefix: str = "i", **kw: object) -> RequestSpec:
    base: dict[str, object] = dict(project_id="p1", vcpus=2, memory_mb=2048, disk_gb=20)
    base.update(kw)
    return RequestSpec(instance_uuids=[f"{prefix}{k}" for k in range(n)], **base)  # type: ignore[arg-type]


def _group(policy: str, level: str = "host", **kw: object) -> GroupInfo:
    return GroupInfo(uuid="g1", name="web", policy=policy, failure_domain=level, **kw)  # type: ignore[arg-type]


def _usage(index: HostStateIndex) -> dict[str, tuple[int, int, int, frozenset[str]]]:
    return {
        h.uuid: (h.vcpus_used, h.memory_mb_used, h.disk_gb_used, frozenset(h.instances))
        for h in index
    }


DOMAINS = {"host": 16, "rack": 8, "az": 4, "region": 2}


@pytest.mark.parametrize("level", ["host", "rack", "az", "region"])
def test_hard_anti_affinity_batch_uses_distinct_domains(level: FailureDomainLevel) -> None:
    index = HostStateIndex(_fleet())
    scheduler = Scheduler(index)
    n = DOMAINS[level]
    result = scheduler.select(_spec(n, group=_group("anti-affinity", level)))
    assert result.ok and len(result.selections) == n
    domains = [index.get(s.host_uuid).failure_domain(level) for s in result.selections]  # type: ignore[union-attr]
    assert len(set(domains)) == n


@pytest.mark.parametrize("level", ["host", "rack", "az", "region"])
def test_hard_anti_affinity_too_many_members_fails_all_and_rolls_back(level: str) -> None:
    index = HostStateIndex(_fleet())
    scheduler = Scheduler(index)
    before = _usage(index)
    n = DOMAINS[level] + 1
    result = scheduler.select(_spec(n, group=_group("anti-affinity", level)))
    assert not result.selections
    assert set(result.failures) == {f"i{k}" for k in range(n)}
    assert _usage(index) == before
    assert all(scheduler.claim_of(f"i{k}") is None for k in range(n))
    message = str(result.failures["i0"])
    assert f"member {n} of {n} could not be placed, so none was" in message
    assert "ServerGroupAntiAffinityFilter" in message
    assert f"only {DOMAINS[level]} {level}s have a hypervisor with room" in message


def test_hard_anti_affinity_counts_existing_members() -> None:
    index = HostStateIndex(_fleet())
    scheduler = Scheduler(index)
    existing = {"R1-az1-r1-h0": 1, "R2-az2-r2-h1": 1}
    result = scheduler.select(
        _spec(6, group=_group("anti-affinity", "rack", member_hosts=existing))
    )
    assert result.ok
    racks = {index.get(s.host_uuid).rack_key for s in result.selections}  # type: ignore[union-attr]
    assert len(racks) == 6
    assert not racks & {"R1/az1/r1", "R2/az2/r2"}
    more = scheduler.select(
        _spec(
            1,
            prefix="x",
            group=_group(
                "anti-affinity",
                "rack",
                member_hosts={s.host_uuid: 1 for s in result.selections} | existing,
            ),
        )
    )
    assert not more.ok


def test_max_server_per_host() -> None:
    hosts = _fleet()[:2]
    scheduler = Scheduler(HostStateIndex(hosts))
    group = _group("anti-affinity", "host", max_server_per_host=2)
    result = scheduler.select(_spec(4, group=group))
    assert result.ok
    assert sorted(Counter(s.host_uuid for s in result.selections).values()) == [2, 2]
    result = scheduler.select(_spec(5, prefix="j", group=group))
    assert not result.ok and not result.selections


def test_soft_anti_affinity_spreads_then_doubles_up() -> None:
    index = HostStateIndex(_fleet())
    scheduler = Scheduler(index)
    result = scheduler.select(_spec(12, group=_group("soft-anti-affinity", "rack")))
    assert result.ok
    racks = [index.get(s.host_uuid).rack_key for s in result.selections]  # type: ignore[union-attr]
    assert len(set(racks[:8])) == 8  # every rack once before any rack twice
    assert max(Counter(racks).values()) == 2
    assert len({s.host_uuid for s in result.selections}) == 12  # doubling up on new hosts


def test_soft_anti_affinity_never_fails_for_the_group() -> None:
    hosts = _fleet()[:1]
    scheduler = Scheduler(HostStateIndex(hosts))
    result = scheduler.select(_spec(3, group=_group("soft-anti-affinity", "host")))
    assert result.ok and {s.host_uuid for s in result.selections} == {hosts[0].uuid}


@pytest.mark.parametrize("level", ["host", "rack", "az"])
def test_hard_affinity_keeps_batch_in_one_domain(level: FailureDomainLevel) -> None:
    index = HostStateIndex(_fleet())
    scheduler = Scheduler(index)
    result = scheduler.select(_spec(4, group=_group("affinity", level)))
    assert result.ok
    assert len({index.get(s.host_uuid).failure_domain(level) for s in result.selections}) == 1  # type: ignore[union-attr]


def test_hard_affinity_follows_existing_members_and_fails_when_full() -> None:
    index = HostStateIndex(_fleet())
    scheduler = Scheduler(index)
    target = "R2-az1-r2-h1"
    group = _group("affinity", "host", member_hosts={target: 1})
    result = scheduler.select(_spec(3, group=group))
    assert {s.host_uuid for s in result.selections} == {target}
    before = _usage(index)
    big = scheduler.select(_spec(2, prefix="big", vcpus=4, memory_mb=14000, group=group))
    assert not big.ok and not big.selections and _usage(index) == before
    message = str(big.failures["big0"])
    assert "ResourceFilter (not enough RAM)" in message


def test_soft_affinity_prefers_members_domain() -> None:
    index = HostStateIndex(_fleet())
    scheduler = Scheduler(index)
    group = _group("soft-affinity", "rack", member_hosts={"R1-az2-r1-h0": 1})
    result = scheduler.select(_spec(3, group=group))
    assert {index.get(s.host_uuid).rack_key for s in result.selections} == {"R1/az2/r1"}  # type: ignore[union-attr]


def test_partial_batch_without_group_reports_who_failed() -> None:
    hosts = _fleet()[:2]  # 2 x 32 GB
    scheduler = Scheduler(HostStateIndex(hosts))
    result = scheduler.select(_spec(5, memory_mb=16384))
    assert [s.instance_uuid for s in result.selections] == ["i0", "i1", "i2", "i3"]
    assert set(result.failures) == {"i4"}
    assert "not enough RAM" in str(result.failures["i4"])


def test_release_and_reselect() -> None:
    index = HostStateIndex(_fleet()[:1])
    scheduler = Scheduler(index)
    host = next(iter(index))
    scheduler.select(_spec(memory_mb=30000))
    assert host.memory_mb_used == 30000
    assert not scheduler.select(_spec(prefix="other", memory_mb=30000)).ok
    # selecting the same instance again releases its old claim first (reschedule)
    assert scheduler.select(_spec(memory_mb=30000)).ok and host.memory_mb_used == 30000
    claim = scheduler.release("i0")
    assert claim is not None and host.memory_mb_used == 0 and not host.instances
    assert scheduler.release("i0") is None


def test_only_hosts_restricts_candidates() -> None:
    scheduler = Scheduler(HostStateIndex(_fleet()))
    result = scheduler.select(_spec(), only_hosts=["R2-az2-r2-h1"])
    assert result.selections[0].host_uuid == "R2-az2-r2-h1"
    failed = scheduler.select(_spec(prefix="z"), only_hosts=["nope"])
    assert "rejected by only_hosts" in str(failed.failures["z0"])


def test_forced_host_still_checks_capacity() -> None:
    scheduler = Scheduler(HostStateIndex(_fleet()))
    ok = scheduler.select(_spec(forced_host="az1:R1-az1-r2-h0"))
    assert ok.selections[0].host_uuid == "R1-az1-r2-h0"
    too_big = scheduler.select(_spec(prefix="b", memory_mb=64000, forced_host=":R1-az1-r2-h0"))
    assert "15 rejected by ForcedHostFilter" in str(too_big.failures["b0"])


def _baremetal() -> list[HostState]:
    nodes = []
    for rack in ("r1", "r2", "r3"):
        for n in range(2):
            for project in ("p1", "p2"):
                uuid = f"bm-{rack}-{n}-{project}"
                nodes.append(
                    HostState(
                        uuid=uuid,
                        name=uuid,
                        region="R1",
                        az="az1",
                        rack=rack,
                        kind="baremetal",
                        resource_class="BM_GOLD",
                        owner_project=project,
                        vcpus=32,
                        memory_mb=131072,
                        disk_gb=960,
                    )
                )
    return nodes


def test_baremetal_stock_isolation_and_whole_node() -> None:
    index = HostStateIndex([*_baremetal(), *_fleet()])
    scheduler = Scheduler(index)
    spec = _spec(6, project_id="p1", resource_class="BM_GOLD", vcpus=1, memory_mb=1, disk_gb=1)
    result = scheduler.select(spec)
    assert result.ok
    hosts = [index.get(s.host_uuid) for s in result.selections]
    assert all(h is not None and h.owner_project == "p1" for h in hosts)
    assert len({s.host_uuid for s in result.selections}) == 6  # one instance per node
    assert all(h is not None and h.free_memory_mb == 0 for h in hosts)
    again = scheduler.select(_spec(1, prefix="more", project_id="p1", resource_class="BM_GOLD"))
    message = str(again.failures["more0"])
    assert "by StockFilter (stock of another project than p1)" in message
    assert "by ResourceFilter (node in use)" in message
    assert "not a BM_GOLD node" in message
    scheduler.release("i0")
    assert scheduler.select(_spec(1, prefix="more", project_id="p1", resource_class="BM_GOLD")).ok


def test_baremetal_rack_spread_message() -> None:
    index = HostStateIndex(_baremetal())
    for node in index:
        if node.rack == "r3":
            node.instances.add("someone-else")
    scheduler = Scheduler(index)
    group = GroupInfo("g", "db", "anti-affinity", "rack")
    spec = _spec(3, project_id="p1", resource_class="BM_GOLD", availability_zone="az1", group=group)
    result = scheduler.select(spec)
    message = str(result.failures["i0"])
    assert "only 2 racks have free BM_GOLD stock in az1 for group db" in message
    assert message.startswith("No valid host was found for a BM_GOLD node in az1.")


def test_no_valid_host_message_counts_per_filter() -> None:
    hosts = _fleet()
    hosts[0].enabled = False
    for h in hosts[1:4]:
        h.memory_mb_used = 30000
    scheduler = Scheduler(HostStateIndex(hosts))
    spec = _spec(
        memory_mb=4096,
        availability_zone="az1",
        region="R1",
        extra_specs={"aggregate_instance_extra_specs:ssd": "true"},
    )
    result = scheduler.select(spec)
    exc = result.failures["i0"]
    assert exc.considered == 16
    assert exc.counts == {
        "AvailabilityZoneFilter": 12,
        "ComputeFilter": 1,
        "AggregateInstanceExtraSpecsFilter": 3,
    }
    assert str(exc) == (
        "No valid host was found for an instance of 2 vCPU, 4096 MB RAM, 20 GB disk in az1."
        " 16 hosts considered: 12 rejected by AvailabilityZoneFilter (not in az1 / region R1),"
        " 1 by ComputeFilter (disabled),"
        " 3 by AggregateInstanceExtraSpecsFilter (no aggregate with ssd=true)."
    )
    assert str(NoValidHost(0)) == "No valid host was found. There are no hosts."


def test_capacity_never_overcommitted_over_many_placements() -> None:
    rng = random.Random(42)
    index = HostStateIndex(
        [*_fleet(cpu_allocation_ratio=2.0, ram_allocation_ratio=1.5), *_baremetal()]
    )
    scheduler = Scheduler(index)
    live: list[str] = []
    for step in range(600):
        if live and rng.random() < 0.3:
            scheduler.release(live.pop(rng.randrange(len(live))))
        if rng.random() < 0.2:
            spec = _spec(
                rng.randint(1, 3),
                prefix=f"s{step}-",
                project_id=rng.choice(["p1", "p2"]),
                resource_class="BM_GOLD",
            )
        else:
            spec = _spec(
                rng.randint(1, 4),
                prefix=f"s{step}-",
                vcpus=rng.choice([1, 2, 4, 8]),
                memory_mb=rng.choice([1024, 4096, 16384]),
                disk_gb=rng.choice([10, 80]),
                availability_zone=rng.choice([None, "az1", "az2"]),
            )
            if rng.random() < 0.3:
                spec.group = _group(
                    rng.choice(["anti-affinity", "soft-anti-affinity"]),
                    rng.choice(["host", "rack", "az"]),
                )
        result = scheduler.select(spec)
        live.extend(s.instance_uuid for s in result.selections)
        for h in index:
            assert h.vcpus_used <= h.vcpus * h.cpu_allocation_ratio
            assert h.memory_mb_used <= h.memory_mb * h.ram_allocation_ratio
            assert h.disk_gb_used <= h.disk_gb * h.disk_allocation_ratio
            if h.kind == "baremetal":
                assert len(h.instances) <= 1
        if spec.group is not None and spec.group.policy == "anti-affinity":
            level = spec.group.failure_domain
            doms = [index.get(s.host_uuid).failure_domain(level) for s in result.selections]  # type: ignore[union-attr]
            assert len(doms) == len(set(doms))
    # Releasing everything gives all capacity back.
    for uuid in live:
        scheduler.release(uuid)
    assert all(h.vcpus_used == 0 and not h.instances for h in index)


def test_no_valid_host_pickles_and_serialises() -> None:
    import pickle

    exc = NoValidHost(
        10,
        [Rejection("AvailabilityZoneFilter", 9, "not in az1"), Rejection("X", 0, "none")],
        subject="a BM_GOLD node",
        detail="Group db failed.",
    )
    copy = pickle.loads(pickle.dumps(exc))
    assert str(copy) == str(exc) and copy.counts == {"AvailabilityZoneFilter": 9}
    assert str(exc) == (
        "No valid host was found for a BM_GOLD node. Group db failed."
        " 10 hosts considered: 9 rejected by AvailabilityZoneFilter (not in az1)."
    )
