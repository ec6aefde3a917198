"""IPAM under concurrency on PostgreSQL and MariaDB (and SQLite): concurrent creates
never hand one address twice, and a subnet fills up exactly to its pool size."""

from __future__ import annotations

import asyncio
import ipaddress
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


async def _subnet_with_ports(db: object, cidr: str, ports: int) -> tuple[Subnet, list[str]]:
    assert hasattr(db, "session")
    prefix = cidr.rsplit(".", 1)[0]
    async with db.session() as session:
        net = Network(project_id="p")
        session.add(net)
        await session.flush()
        subnet = Subnet(
            network_id=net.id, project_id="p", ip_version=4, cidr=cidr,
            allocation_pools=[{"start": f"{prefix}.2", "end": f"{prefix}.14"}],
            gateway_ip=f"{prefix}.1",
        )  # fmt: skip
        session.add(subnet)
        rows = [
            Port(network_id=net.id, project_id="p", mac_address=f"fa:16:3e:00:01:{i:02x}")
            for i in range(ports)
        ]
        session.add_all(rows)
    return subnet, [p.id for p in rows]


@pytest.mark.backend("sqlite", "postgresql", "mariadb")
async def test_one_transaction_allocates_in_order_and_reuses_what_it_released(
    cloud: Cloud,
) -> None:
    """A burst addresses many ports in one transaction (the subnet is read once then):
    the addresses still come in pool order, and one it released is handed out again."""
    db = cloud.state.db
    subnet, ports = await _subnet_with_ports(db, "10.32.0.0/28", 5)
    async with db.session() as session:
        got = [await ipam.allocate_any(session, pid, subnet) for pid in ports[:3]]
        assert got == ["10.32.0.2", "10.32.0.3", "10.32.0.4"]
        await ipam.release(session, ports[1])
        await session.flush()
        assert await ipam.allocate_any(session, ports[3], subnet) == "10.32.0.3"
        assert await ipam.allocate_any(session, ports[4], subnet) == "10.32.0.5"


@pytest.mark.backend("postgresql", "mariadb")
async def test_address_taken_by_another_transaction_midway_is_not_handed_twice(
    cloud: Cloud,
) -> None:
    """The transaction's view of the subnet is read once; an address another transaction
    commits after that read loses at the unique constraint and a fresh one is picked.
    (SQLite cannot interleave two writers: its gate runs them one after the other.)"""
    db = cloud.state.db
    subnet, ports = await _subnet_with_ports(db, "10.33.0.0/28", 3)
    async with db.session() as burst:
        assert await ipam.allocate_any(burst, ports[0], subnet) == "10.33.0.2"
        async with db.session() as other:
            # A specific address: an automatic pick would wait on the burst's .2 row.
            address = ipaddress.ip_address("10.33.0.3")
            assert await ipam.allocate_specific(other, ports[1], subnet, address) == "10.33.0.3"
        third = await ipam.allocate_any(burst, ports[2], subnet)
    assert third is not None and third not in ("10.33.0.2", "10.33.0.3")
    async with db.session() as session:
        held = await ipam.port_addresses(session, ports)
    assert sorted(a["ip_address"] for addrs in held.values() for a in addrs) == sorted(
        ["10.33.0.2", "10.33.0.3", third]
    )


def test_first_free_search_resumes_where_each_pool_was_full() -> None:
    """A burst's allocations do not rescan what earlier ones took, pool by pool (the
    pools in their given order, not sorted), and a wider search still sees every hole."""
    subnet = Subnet(
        ip_version=4, cidr="10.0.0.0/24",
        allocation_pools=[{"start": "10.0.0.10", "end": "10.0.0.11"},
                          {"start": "10.0.0.2", "end": "10.0.0.5"}],
    )  # fmt: skip
    as_int = {str(ipaddress.ip_address(v)): v for v in range(0x0A000000, 0x0A000010)}
    taken = ipam._Taken([as_int["10.0.0.3"]])
    order: list[str] = []
    while found := ipam._candidates(subnet, taken, 1):
        taken.add(found[0])
        order.append(str(ipaddress.ip_address(found[0])))
    assert order == ["10.0.0.10", "10.0.0.11", "10.0.0.2", "10.0.0.4", "10.0.0.5"]
    assert taken.resume == {0: as_int["10.0.0.11"] + 1, 1: as_int["10.0.0.5"] + 1}
    fresh = ipam._Taken([as_int["10.0.0.10"], as_int["10.0.0.2"]])
    assert [str(ipaddress.ip_address(v)) for v in ipam._candidates(subnet, fresh, 3)] == [
        "10.0.0.11", "10.0.0.3", "10.0.0.4",
    ]  # fmt: skip
