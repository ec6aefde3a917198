"""Servers placed at once (each in its own claim transaction) never get one address
twice, on SQLite, PostgreSQL and MariaDB; the provider network is created once even when
the placements race to create it."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from stockyard.db.base import Database
from stockyard.db.models import Instance, IPAllocation, Network, Region, Subnet
from stockyard.db.retry import is_retryable
from stockyard.network import server_ports


@pytest.mark.backend("sqlite", "postgresql", "mariadb")
async def test_concurrent_binds_hand_distinct_addresses(db_url: str) -> None:
    db = Database(db_url)
    await db.create_all()
    try:
        async with db.session() as s:
            # /27: 29 addresses past the gateway, for 32 servers.
            s.add(Region(id="R", cidr="10.40.0.0/27"))
            rows = [
                Instance(name=f"vm-{i}", project_id="p", user_id="u", flavor_id="1")
                for i in range(32)
            ]
            s.add_all(rows)
        uuids = [r.uuid for r in rows]
        gate = asyncio.Semaphore(12)  # shared database servers: bounded, still racing

        async def bind(uuid: str) -> bool:
            async with gate:
                for _ in range(20):
                    try:
                        async with db.session() as s:
                            inst = await s.scalar(select(Instance).where(Instance.uuid == uuid))
                            assert inst is not None
                            # The claim's UPDATE comes first in the placement transaction.
                            inst.host = "h"
                            await s.flush()
                            await server_ports.bind(s, inst, host="h", region="R", az="az1")
                            return True
                    except server_ports.BindFailed:
                        return False
                    except Exception as exc:
                        # A deadlock aborts the transaction: retried, as the flows do.
                        if not is_retryable(exc):
                            raise
            raise AssertionError(f"no bind for {uuid}: retries exhausted")

        got = await asyncio.gather(*(bind(u) for u in uuids))
        assert got.count(True) == 29 and got.count(False) == 3
        async with db.session() as s:
            ips = list(await s.scalars(select(IPAllocation.ip_address)))
            assert len(ips) == len(set(ips)) == 29
            assert "10.40.0.1" not in ips
            assert await s.scalar(select(func.count()).select_from(Network)) == 1
            assert await s.scalar(select(func.count()).select_from(Subnet)) == 1
            bound = list(
                await s.scalars(select(Instance).where(Instance.network_info.is_not(None)))
            )
            assert len(bound) == 29
            assert all(len(i.addresses["provider"]) == 1 for i in bound)
    finally:
        await db.dispose()
