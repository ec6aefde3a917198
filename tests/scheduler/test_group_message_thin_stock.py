"""Regression: with one free node per rack, an unmeetable hard rack spread said "only 1
rack has free stock" (the racks whose last node went to an earlier member of the batch
were left out) instead of naming every rack the group could use."""

from __future__ import annotations

from stockyard.scheduler import GroupInfo, HostState, HostStateIndex, RequestSpec, Scheduler


def _node(rack: str, n: int) -> HostState:
    name = f"bm-{rack}-{n}"
    return HostState(
        uuid=name, name=name, region="R1", az="az1", rack=rack, kind="baremetal",
        resource_class="BM_GOLD", owner_project="p1", vcpus=8, memory_mb=16384, disk_gb=100,
    )  # fmt: skip


def test_thin_stock_message_counts_the_racks_members_took() -> None:
    # r1 has two nodes, r2 one: the group can use two racks, and asks for three.
    index = HostStateIndex([_node("r1", 0), _node("r1", 1), _node("r2", 0)])
    group = GroupInfo("g", "db", "anti-affinity", "rack")
    spec = RequestSpec(
        instance_uuids=["i0", "i1", "i2"], project_id="p1", vcpus=1, memory_mb=1, disk_gb=1,
        resource_class="BM_GOLD", availability_zone="az1", group=group,
    )  # fmt: skip
    result = Scheduler(index).select(spec)
    assert not result.selections
    message = str(result.failures["i0"])
    assert "only 2 racks have free BM_GOLD stock in az1 for group db" in message, message
    assert "rack r1 (az1), rack r2 (az1)" in message, message
