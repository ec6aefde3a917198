"""``stockyard up`` seeds DevStack's VM flavors, idempotently."""

from __future__ import annotations

from sqlalchemy import select

from stockyard.cli.seed import DEFAULT_FLAVORS, _seed_flavors
from stockyard.db.models import Flavor
from tests.conftest import Cloud

DEVSTACK = {
    "m1.nano": ("42", 1, 128, 1),
    "m1.micro": ("84", 1, 192, 1),
    "m1.tiny": ("1", 1, 512, 1),
    "m1.small": ("2", 1, 2048, 20),
    "m1.medium": ("3", 2, 4096, 40),
    "m1.large": ("4", 4, 8192, 80),
}


async def _flavors(cloud: Cloud) -> dict[str, tuple[str, int, int, int]]:
    async with cloud.state.db.session() as s:
        rows = (await s.scalars(select(Flavor))).all()
    return {f.name: (f.flavorid, f.vcpus, f.ram, f.disk) for f in rows}


async def test_devstack_flavors_seeded_twice(cloud: Cloud) -> None:
    assert {name for name, *_ in DEFAULT_FLAVORS} == set(DEVSTACK)
    for _ in range(2):
        async with cloud.state.db.session() as s:
            await _seed_flavors(s)
        assert await _flavors(cloud) == DEVSTACK
    r = await cloud.client.get("/compute/v2.1/flavors/detail", headers=cloud.demo)
    listed = {f["name"]: f for f in r.json()["flavors"]}
    assert set(DEVSTACK) <= set(listed)
    assert listed["m1.nano"]["id"] == "42" and listed["m1.nano"]["ram"] == 128


async def test_existing_flavors_left_alone(cloud: Cloud) -> None:
    """An operator's own m1.small (other size) and a flavor holding id 3 stay as they are."""
    async with cloud.state.db.session() as s:
        s.add(Flavor(flavorid="mine", name="m1.small", vcpus=2, ram=2048, disk=20))
        s.add(Flavor(flavorid="3", name="other", vcpus=8, ram=1024, disk=1))
    async with cloud.state.db.session() as s:
        await _seed_flavors(s)
    flavors = await _flavors(cloud)
    assert flavors["m1.small"] == ("mine", 2, 2048, 20)
    assert "m1.medium" not in flavors and flavors["other"] == ("3", 8, 1024, 1)
    assert flavors["m1.large"] == DEVSTACK["m1.large"]
