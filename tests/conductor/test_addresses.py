"""Fixed addresses: next after the latest allocation, the lowest free one otherwise."""

from __future__ import annotations

import asyncio

import pytest

from stockyard.db.models import AddressAllocation, Region
from stockyard.placement.network import (
    AddressesExhausted,
    allocate_address,
    release_addresses,
)
from tests.conductor.conftest import Lab

# 10.9.0.0/29: .1 is the gateway, .7 the broadcast address; servers get .2 to .6.
CIDR = "10.9.0.0/29"


async def _region(lab: Lab) -> None:
    async with lab.db.session() as s:
        s.add(Region(id="small", cidr=CIDR))


async def _allocate(lab: Lab, uuid: str) -> str:
    async with lab.db.session() as s:
        return (await allocate_address(s, "small", uuid)).address


async def test_addresses_go_in_order_then_reuse_the_lowest_freed_one(lab: Lab) -> None:
    await _region(lab)
    got = [await _allocate(lab, f"i-{n}") for n in range(5)]
    assert got == [f"10.9.0.{n}" for n in range(2, 7)]
    assert await _allocate(lab, "i-1") == "10.9.0.3", "idempotent per instance"
    with pytest.raises(AddressesExhausted):
        await _allocate(lab, "i-5")
    async with lab.db.session() as s:
        assert await release_addresses(s, "i-3") == 1
        assert await release_addresses(s, "i-1") == 1
    assert await _allocate(lab, "i-6") == "10.9.0.3"
    assert await _allocate(lab, "i-7") == "10.9.0.5"


async def test_a_freed_address_waits_until_the_end_of_the_network(lab: Lab) -> None:
    """No instant reuse: a new server does not inherit a just-deleted one's address."""
    await _region(lab)
    assert [await _allocate(lab, f"i-{n}") for n in range(3)] == [
        "10.9.0.2",
        "10.9.0.3",
        "10.9.0.4",
    ]
    async with lab.db.session() as s:
        await release_addresses(s, "i-0")
    assert [await _allocate(lab, f"j-{n}") for n in range(3)] == [
        "10.9.0.5",
        "10.9.0.6",
        "10.9.0.2",
    ]


async def test_a_taken_next_address_falls_back_to_the_lowest_free(lab: Lab) -> None:
    await _region(lab)
    async with lab.db.session() as s:
        # The latest allocation (.3) is followed by one already held (.4).
        s.add(AddressAllocation(region="small", address="10.9.0.4", instance_uuid="a", mac="m"))
        await s.flush()
        s.add(AddressAllocation(region="small", address="10.9.0.3", instance_uuid="b", mac="m"))
    assert await _allocate(lab, "c") == "10.9.0.2"
    assert await _allocate(lab, "d") == "10.9.0.5"


async def test_concurrent_allocations_get_distinct_addresses(lab: Lab) -> None:
    await _region(lab)
    got = await asyncio.gather(*(_allocate(lab, f"i-{n}") for n in range(5)))
    assert sorted(got) == [f"10.9.0.{n}" for n in range(2, 7)]
