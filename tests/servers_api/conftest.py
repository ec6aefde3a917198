"""Fixtures for the servers API: a flavor, an active image and a few hosts."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from stockyard.db.models import Flavor, Host, Image
from tests.conftest import Cloud


@dataclass
class Seed:
    flavor_id: str
    image_id: str


@pytest.fixture
async def seed(cloud: Cloud) -> Seed:
    async with cloud.state.db.session() as session:
        session.add(Flavor(flavorid="f1", name="m1.small", vcpus=2, ram=2048, disk=20))
        image = Image(
            name="tiny",
            status="active",
            visibility="public",
            disk_format="raw",
            container_format="bare",
            size=10,
            owner=cloud.seeded.admin_project_id,
        )
        session.add(image)
        for i in range(3):
            session.add(
                Host(
                    name=f"h{i}",
                    region="RegionOne",
                    az="az1",
                    rack=f"r{i}",
                    vcpus=16,
                    memory_mb=32768,
                    local_gb=200,
                )
            )
        await session.flush()
        image_id = image.id
    return Seed("f1", image_id)


def server_body(seed: Seed, **extra: object) -> dict[str, object]:
    server: dict[str, object] = {
        "name": "vm",
        "flavorRef": seed.flavor_id,
        "imageRef": seed.image_id,
        "networks": "auto",
    }
    server.update(extra)
    return {"server": server}
