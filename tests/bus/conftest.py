"""Real RabbitMQ at 127.0.0.1:5672: a unique queue prefix per test, queues deleted after."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aio_pika
import pytest

from stockyard.bus.amqp import AmqpBus

RABBIT_URL = os.environ.get("STOCKYARD_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
RABBIT_ADDR = ("127.0.0.1", 5672)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "broker_restart: stops and starts the local RabbitMQ app (rabbitmqctl, needs root)",
    )


def _reachable() -> bool:
    try:
        with socket.create_connection(RABBIT_ADDR, timeout=2.0):
            return True
    except OSError:
        return False


@pytest.fixture
def rabbit_url() -> str:
    if not _reachable():
        reason = f"RabbitMQ unreachable at {RABBIT_ADDR[0]}:{RABBIT_ADDR[1]}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return RABBIT_URL


BusFactory = Callable[..., Awaitable[AmqpBus]]


@pytest.fixture
async def amqp_bus(rabbit_url: str) -> AsyncIterator[BusFactory]:
    """Factory of started AmqpBus objects sharing one unique prefix; cleans up after."""
    prefix = f"sytest-{uuid.uuid4().hex[:10]}"
    buses: list[AmqpBus] = []

    async def make(**kwargs: Any) -> AmqpBus:
        bus = AmqpBus(rabbit_url, prefix=prefix, **kwargs)
        await bus.start()
        buses.append(bus)
        return bus

    yield make
    queues: set[str] = set()
    for bus in buses:
        queues |= bus.queues
        await bus.close()
    connection = await aio_pika.connect(rabbit_url)
    async with connection:
        channel = await connection.channel()
        for name in queues:
            await channel.queue_delete(name)


async def wait_until(pred: Callable[[], bool], limit: float = 20.0) -> None:
    """Poll ``pred`` until it holds; the limit only guards against a hang."""
    async with asyncio.timeout(limit):
        while True:
            if pred():
                return
            await asyncio.sleep(0.02)


async def queue_depth(url: str, name: str) -> int:
    """Ready messages in queue ``name`` (passive declare)."""
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(name, passive=True)
        count = queue.declaration_result.message_count
        assert count is not None
        return int(count)
