"""Faults in plain words, from the messages the scheduler really writes."""

from __future__ import annotations

from stockyard.dashboard.faults import plain_fault
from stockyard.scheduler.errors import NoValidHost, Rejection


def test_no_valid_host_is_split_per_filter_with_nested_parentheses() -> None:
    exc = NoValidHost(
        6,
        [
            Rejection("ServerGroupAntiAffinityFilter", 4, "in rack r1 (az1) with group db"),
            Rejection("StockFilter", 2, "stock of another project than p1"),
        ],
        detail="only 2 racks have free BM_GOLD stock in az1 for group db.",
    )
    fault = plain_fault({"message": exc.message, "code": 500})
    assert fault is not None
    assert fault.headline == "No host could take this server."
    assert fault.detail == "only 2 racks have free BM_GOLD stock in az1 for group db."
    assert fault.considered == 6
    assert [(r.count, r.filter_name, r.reason) for r in fault.rejections] == [
        (4, "ServerGroupAntiAffinityFilter", "in rack r1 (az1) with group db"),
        (2, "StockFilter", "stock of another project than p1"),
    ]
    assert fault.rejections[1].checks == "project stock (baremetal)"


def test_a_truncated_message_is_read_whole_from_details() -> None:
    exc = NoValidHost(40, [Rejection(f"Filter{i}", 1, "x" * 20) for i in range(12)])
    full = exc.message
    assert len(full) > 255
    fault = plain_fault({"message": full[:252] + "...", "details": full, "code": 500})
    assert fault is not None and len(fault.rejections) == 12


def test_other_faults_and_none() -> None:
    assert plain_fault(None) is None
    fault = plain_fault({"message": "Build timed out after 600 s", "code": 500})
    assert fault is not None
    assert fault.headline == "Build timed out after 600 s" and fault.rejections == []
    no_hosts = plain_fault({"message": NoValidHost(0).message})
    assert no_hosts is not None and no_hosts.detail == "There are no hosts."
