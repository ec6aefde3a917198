"""Concurrent creates cannot both pass the last unit of quota (the project lock)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from stockyard.db.models import Volume
from tests.conftest import Cloud
from tests.volume_api.helpers import V3, vh


@pytest.mark.backend("sqlite", "postgresql", "mariadb")
async def test_concurrent_creates_respect_the_quota(cloud: Cloud) -> None:
    project = cloud.seeded.demo_project_id
    resp = await cloud.client.put(
        f"{V3}/os-quota-sets/{project}",
        json={"quota_set": {"volumes": 2}},
        headers=vh(cloud.admin_token),
    )
    assert resp.status_code == 200
    results = await asyncio.gather(
        *(
            cloud.client.post(
                f"{V3}/volumes", json={"volume": {"size": 1}}, headers=vh(cloud.demo_token)
            )
            for _ in range(6)
        )
    )
    codes = sorted(r.status_code for r in results)
    assert codes == [202, 202, 413, 413, 413, 413], [r.text for r in results]
    async with cloud.state.db.session() as s:
        count = await s.scalar(
            select(func.count()).select_from(Volume).where(Volume.project_id == project)
        )
    assert count == 2
