"""Rows the compute catalog tests need, written straight into the database."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from stockyard.db.base import utcnow
from stockyard.db.models import Host, Instance
from tests.conftest import Cloud

V = "/compute/v2.1"


async def add_host(cloud: Cloud, name: str, **kw: Any) -> Host:
    """A hypervisor row; ``stale=True`` makes it look down."""
    stale = kw.pop("stale", False)
    values: dict[str, Any] = {
        "region": "RegionOne",
        "az": "az1",
        "rack": "r1",
        "vcpus": 16,
        "memory_mb": 65536,
        "local_gb": 1000,
    }
    values.update(kw)
    if stale:
        values["last_seen"] = utcnow() - timedelta(seconds=600)
    async with cloud.state.db.session() as session:
        host = Host(name=name, **values)
        session.add(host)
    return host


async def add_instance(cloud: Cloud, project_id: str, vcpus: int = 1, ram: int = 512) -> None:
    async with cloud.state.db.session() as session:
        session.add(
            Instance(
                name="vm",
                project_id=project_id,
                user_id="u",
                flavor_id="f",
                flavor={"vcpus": vcpus, "ram": ram},
            )
        )
