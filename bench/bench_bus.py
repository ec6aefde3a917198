"""Publish+consume throughput of small messages: MemoryBus vs AmqpBus, side by side.

Usage: .venv/bin/python bench/bench_bus.py [--count 5000] [--amqp-url amqp://guest:guest@127.0.0.1:5672/]

Each run publishes ``count`` small ``task`` messages one after the other (AMQP: each awaits
its publisher confirm, as production code does) while one subscriber with prefetch
``concurrency`` consumes and acks them; the figure is messages per second from the first
publish to the last handled message. A second AMQP figure publishes with 64 concurrent
publishers, which is how a busy API behaves.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid

import aio_pika

from stockyard.bus.amqp import AmqpBus
from stockyard.bus.base import Bus, Message
from stockyard.bus.memory import MemoryBus


async def _run(bus: Bus, count: int, concurrency: int, publishers: int) -> float:
    done = asyncio.Event()
    handled = 0

    async def handler(message: Message) -> None:
        nonlocal handled
        handled += 1
        if handled == count:
            done.set()

    await bus.start()
    await bus.subscribe("conductor", handler, concurrency=concurrency)
    msg: Message = {"type": "task", "instance_uuid": uuid.uuid4().hex, "request_id": "req-b"}

    async def publish_share(n: int) -> None:
        for _ in range(n):
            await bus.publish("conductor", msg)

    start = time.perf_counter()
    share, extra = divmod(count, publishers)
    await asyncio.gather(*(publish_share(share + (i < extra)) for i in range(publishers)))
    await asyncio.wait_for(done.wait(), 300)
    return count / (time.perf_counter() - start)


async def _amqp(url: str, count: int, concurrency: int, publishers: int) -> float:
    bus = AmqpBus(url, prefix=f"bench-{uuid.uuid4().hex[:8]}")
    try:
        return await _run(bus, count, concurrency, publishers)
    finally:
        queues = set(bus.queues)
        await bus.close()
        connection = await aio_pika.connect(url)
        async with connection:
            channel = await connection.channel()
            for name in queues:
                await channel.queue_delete(name)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--amqp-url", default="amqp://guest:guest@127.0.0.1:5672/")
    args = parser.parse_args()

    rows: list[tuple[str, float]] = []
    memory = MemoryBus()
    rows.append(("memory, 1 publisher", await _run(memory, args.count, args.concurrency, 1)))
    await memory.close()
    for publishers in (1, 64):
        rate = await _amqp(args.amqp_url, args.count, args.concurrency, publishers)
        rows.append((f"amqp,   {publishers} publisher(s), confirms", rate))
    print(f"{'bus':<36} {'msgs/s':>10}   ({args.count} msgs, prefetch {args.concurrency})")
    for name, rate in rows:
        print(f"{name:<36} {rate:>10.0f}")


if __name__ == "__main__":
    asyncio.run(main())
