"""Two admins approving competing requests at once never hand out a node twice."""

from __future__ import annotations

import asyncio
from collections import Counter

from sqlalchemy import select

from stockyard.db.models import Host
from tests.conftest import Cloud
from tests.stock.helpers import S, add_node, second_project


async def _request(cloud: Cloud, headers: dict[str, str], count: int) -> str:
    body = {"resource_class": "BM_GOLD", "availability_zone": "az1", "count": count}
    resp = await cloud.client.post(f"{S}/requests", json=body, headers=headers)
    assert resp.status_code == 201
    return str(resp.json()["request"]["id"])


async def _owners(cloud: Cloud) -> Counter[str | None]:
    async with cloud.state.db.session() as session:
        rows = await session.scalars(select(Host.owner_project).where(Host.kind == "baremetal"))
        return Counter(rows.all())


async def test_scarce_nodes_go_to_one_request_only(cloud: Cloud) -> None:
    for i in range(3):
        await add_node(cloud, f"n{i}", rack=f"r{i % 2}")
    other_pid, other_h = await second_project(cloud)
    first = await _request(cloud, cloud.demo, 2)
    second = await _request(cloud, other_h, 2)
    results = await asyncio.gather(
        *(
            cloud.client.post(f"{S}/requests/{rid}/approve", headers=cloud.admin)
            for rid in (first, second)
        )
    )
    codes = sorted(r.status_code for r in results)
    assert codes == [200, 409], [r.text for r in results]
    loser = next(r for r in results if r.status_code == 409)
    assert "only 1 free BM_GOLD nodes in az1, 2 requested" in loser.text
    owners = await _owners(cloud)
    assert owners[None] == 1 and sum(owners.values()) == 3
    assert sorted(v for k, v in owners.items() if k is not None) == [2]
    winner = next(r for r in results if r.status_code == 200).json()["request"]
    assert owners[winner["project_id"]] == 2
    assert winner["project_id"] in (other_pid, cloud.seeded.demo_project_id)


async def test_enough_nodes_both_approved_disjoint(cloud: Cloud) -> None:
    for i in range(4):
        await add_node(cloud, f"n{i}", rack=f"r{i % 2}")
    _, other_h = await second_project(cloud)
    rids = [await _request(cloud, cloud.demo, 2), await _request(cloud, other_h, 2)]
    results = await asyncio.gather(
        *(cloud.client.post(f"{S}/requests/{rid}/approve", headers=cloud.admin) for rid in rids)
    )
    assert [r.status_code for r in results] == [200, 200]
    assigned = [n for r in results for n in r.json()["request"]["assigned_nodes"]]
    assert len(assigned) == len(set(assigned)) == 4
    owners = await _owners(cloud)
    assert owners[None] == 0 and sorted(owners.values()) == [2, 2]
