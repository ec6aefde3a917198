"""Two deletes of one security group rule (or group) at once: one 204, one 404, as
Neutron answers a second delete; never two 204s over a DELETE that matched nothing
(found by the random walk, whose waves send concurrent requests)."""

from __future__ import annotations

import asyncio
import warnings

import pytest
from sqlalchemy import select

from stockyard.db.models import SecurityGroup, SecurityGroupRule
from tests.conftest import Cloud
from tests.network_api.helpers import V2, create


async def _twice_at_once(cloud: Cloud, model: type, row_id: str, url: str) -> list[int]:
    """Both requests read the row while another transaction holds it, then race."""
    async with cloud.state.db.session() as s:
        await s.execute(select(model.id).where(model.id == row_id).with_for_update())
        calls = [
            asyncio.create_task(cloud.client.delete(url, headers=cloud.demo)) for _ in range(2)
        ]
        await asyncio.sleep(0.3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # SQLAlchemy's "expected to delete 1 row" too
        done = await asyncio.gather(*calls)
    return sorted(r.status_code for r in done)


@pytest.mark.backend("sqlite", "postgresql", "mariadb")
async def test_a_rule_deleted_twice_at_once_is_deleted_once(cloud: Cloud) -> None:
    group = await create(cloud, "security_group", cloud.demo, name="g")
    rule = await create(
        cloud, "security_group_rule", cloud.demo, security_group_id=group["id"],
        direction="ingress", protocol="tcp", port_range_min=22, port_range_max=22,
    )  # fmt: skip
    url = f"{V2}/security-group-rules/{rule['id']}"
    assert await _twice_at_once(cloud, SecurityGroupRule, rule["id"], url) == [204, 404]


@pytest.mark.backend("sqlite", "postgresql", "mariadb")
async def test_a_group_deleted_twice_at_once_is_deleted_once(cloud: Cloud) -> None:
    group = await create(cloud, "security_group", cloud.demo, name="g")
    url = f"{V2}/security-groups/{group['id']}"
    assert await _twice_at_once(cloud, SecurityGroup, group["id"], url) == [204, 404]
