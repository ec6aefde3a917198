"""``stockyard up`` with only STOCKYARD_DATABASE_URL and STOCKYARD_BUS_URL set runs every
role in one process on PostgreSQL + RabbitMQ (scheduler and conductor over the bus)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from stockyard.db import testing as dbt
from tests.e2e.conftest import start_cloud, stop_cloud
from tests.topology.cluster import RABBIT_URL, delete_queues, require_services


def test_up_on_postgresql_and_rabbitmq(tmp_path: Path) -> None:
    require_services("postgresql")
    url = asyncio.run(dbt.create_database("postgresql", prefix="sytopo"))
    prefix = f"sytopo-{uuid.uuid4().hex[:10]}"
    try:
        cloud = start_cloud(
            tmp_path,
            {
                "STOCKYARD_DATABASE_URL": url,
                "STOCKYARD_BUS_URL": RABBIT_URL,
                "STOCKYARD_BUS_PREFIX": prefix,
                "STOCKYARD_FAKE_BOOT_SECONDS": "0",
            },
        )
        try:
            cloud.os("server", "create", "--flavor", "m1.tiny", "--image", "stockyard-default",
                     "--wait", "vm1")  # fmt: skip
            assert cloud.os_json("server", "show", "vm1")["status"] == "ACTIVE"
            cloud.os("server", "delete", "--wait", "vm1")
        finally:
            stop_cloud(cloud)
    finally:
        asyncio.run(dbt.drop_database(url))
        delete_queues(prefix)
