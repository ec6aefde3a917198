"""A "No valid host" is only final on a fresh view of the hosts: a host enrolled (or stock
assigned, capacity freed) since the last periodic reload is found, not refused."""

from __future__ import annotations

import pytest

from stockyard.placement import burst
from tests.conductor.conftest import FLAVOR, Lab

BIG = {**FLAVOR, "vcpus": 8, "ram": 4096}


async def _late_host_case(lab: Lab) -> str:
    await lab.add_hosts(1, vcpus=2)  # too small for BIG
    await lab.start()  # loads its host view now; the periodic reload is far away
    (late,) = await lab.add_hosts(1, vcpus=16)
    (uuid,) = await lab.create(1, flavor=BIG)
    (row,) = await lab.settled([uuid])
    assert late in lab.hosts
    return f"{row.vm_state} {row.host}"


async def test_a_host_enrolled_after_the_last_reload_is_used(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(burst, "FRESH_SECONDS", 0.0)
    assert await _late_host_case(lab) == f"active {lab.hosts[1]}"


async def test_without_the_fresh_look_the_stale_view_refuses(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The control case: the same story fails when refusals are never re-checked.
    monkeypatch.setattr(burst, "FRESH_SECONDS", float("inf"))
    assert await _late_host_case(lab) == "error None"
