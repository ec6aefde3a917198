"""Reply topics on RabbitMQ die with their API process instead of piling up."""

from __future__ import annotations

import asyncio

import aio_pika
import pytest
from aio_pika.exceptions import ChannelNotFoundEntity

from stockyard.bus import amqp
from stockyard.bus.base import Message
from tests.bus.conftest import BusFactory, wait_until


async def _exists(url: str, name: str) -> bool:
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        try:
            await channel.declare_queue(name, passive=True)
        except ChannelNotFoundEntity:
            return False
        return True


async def test_reply_queue_is_deleted_after_its_consumer_left(
    amqp_bus: BusFactory, rabbit_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(amqp, "REPLY_QUEUE_EXPIRES_MS", 1000)
    api_bus = await amqp_bus()
    agent_bus = await amqp_bus()
    got: list[Message] = []

    async def on_reply(message: Message) -> None:
        got.append(message)

    await api_bus.subscribe("reply.abc", on_reply, concurrency=1)
    # The agent's side declares the same queue when it publishes: the options must match.
    await agent_bus.publish("reply.abc", {"reply_id": "1"})
    await wait_until(lambda: len(got) == 1)
    name = api_bus.queue_name("reply.abc")
    assert await _exists(rabbit_url, name)

    await api_bus.close()
    # A declare, even passive, renews the expiry lease: look less often than it expires.
    deadline = asyncio.get_running_loop().time() + 30
    while await _exists(rabbit_url, name):
        assert asyncio.get_running_loop().time() < deadline, f"{name} still there"
        await asyncio.sleep(2.5)


async def test_work_queues_stay_durable(amqp_bus: BusFactory, rabbit_url: str) -> None:
    bus = await amqp_bus()
    await bus.publish("conductor", {"type": "task"})
    name = bus.queue_name("conductor")
    connection = await aio_pika.connect(rabbit_url)
    async with connection:
        channel = await connection.channel()
        # A passive declare with durable=True succeeds only if the queue is durable.
        queue = await channel.declare_queue(name, durable=True, passive=True)
        assert queue.declaration_result.message_count == 1
