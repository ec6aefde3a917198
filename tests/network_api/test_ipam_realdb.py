"""IPAM under concurrency on PostgreSQL and MariaDB (and SQLite): concurrent creates
never hand one address twice, and a subnet fills up exactly to its pool size."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from stockyard.db.models import Network, Port, Subnet
from stockyard.db.retry import is_retryable
from stockyard.network import ipam
from tests.conftest import Cloud
from tests.network_api.helpers import V2, create


@pytest.mark.backend("sqlite", "postgresql", "mariadb")
async def test_concurrent_port_creates_get_distinct_addresses(cloud: Cloud) -> None:
    net = await create(cloud, "network", cloud.admin, name="shared", shared=True)
    await create(
        cloud, "subnet", cloud.admin, network_id=net["id"], ip_version=4, cidr="10.30.0.0/28"
    )
    # 13 usable addresses; 16 creates from two projects race for them.

    async def one(headers: dict[str, str]) -> int:
        resp = await cloud.client.post(
            f"{V2}/ports", json={"port": {"network_id": net["id"]}}, headers=headers
        )
        return resp.status_code

    statuses = await asyncio.gather(*(one(cloud.admin if i % 2 else cloud.demo) for i in range(16)))
    assert sorted(statuses) == [201] * 13 + [409] * 3
    ports = (await cloud.client.get(f"{V2}/ports", headers=cloud.admin)).json()["ports"]
    ips = [p["fixed_ips"][0]["ip_address"] for p in ports]
    assert len(ips) == len(set(ips)) == 13


@pytest.mark.backend("sqlite", "postgresql", "mariadb")
async def test_ipam_allocations_race_without_quota_lock(cloud: Cloud) -> None:
    """Straight at IPAM, one session per allocation: only the unique constraint decides."""
    db = cloud.state.db
    async with db.session() as session:
        net = Network(project_id="p")
        session.add(net)
        await session.flush()
        subnet = Subnet(
            network_id=net.id, project_id="p", ip_version=4, cidr="10.31.0.0/27",
            allocation_pools=[{"start": "10.31.0.2", "end": "10.31.0.30"}], gateway_ip="10.31.0.1",
        )  # fmt: skip
        session.add(subnet)
        ports = [
            Port(network_id=net.id, project_id="p", mac_address=f"fa:16:3e:00:00:{i:02x}")
            for i in range(40)
        ]
        session.add_all(ports)
    port_ids = [p.id for p in ports]

    # The database servers are shared: a dozen sessions at once race enough without
    # running a busy server out of connections.
    gate = asyncio.Semaphore(12)

    async def allocate(port_id: str) -> str | None:
        async with gate:
            return await _allocate(port_id)

    async def _allocate(port_id: str) -> str | None:
        # A MariaDB deadlock aborts the whole transaction (as the API's RetryMiddleware
        # sees it): run it again, as the middleware does.
        for _ in range(20):
            try:
                async with db.session() as session:
                    row = await session.get(Subnet, subnet.id)
                    assert row is not None
                    return await ipam.allocate_any(session, port_id, row)
            except Exception as exc:
                if not is_retryable(exc):
                    raise
        raise AssertionError(f"no allocation for {port_id}: retries exhausted")

    got = await asyncio.gather(*(allocate(pid) for pid in port_ids))
    handed = [ip for ip in got if ip is not None]
    assert len(handed) == 29 and len(set(handed)) == 29
    assert got.count(None) == 11
    assert uuid.UUID(port_ids[0])
