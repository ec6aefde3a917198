"""A RabbitMQ restart mid-flow: the same AmqpBus object publishes and consumes again."""

from __future__ import annotations

import asyncio
import os
import shutil

import pytest

from stockyard.bus.base import BusError, Message
from tests.bus.conftest import BusFactory, wait_until

pytestmark = pytest.mark.broker_restart


async def _rabbitmqctl(*args: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        "rabbitmqctl",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)}: {out.decode(errors='replace')}")


@pytest.fixture
def can_restart(rabbit_url: str) -> None:
    if shutil.which("rabbitmqctl") is None or os.geteuid() != 0:
        reason = "broker restart needs rabbitmqctl and root"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.mark.usefixtures("can_restart")
async def test_publish_and_consume_resume_after_a_broker_restart(amqp_bus: BusFactory) -> None:
    bus = await amqp_bus(publish_timeout=120.0)
    impatient = await amqp_bus(publish_timeout=1.0)
    got: list[str] = []

    async def handler(message: Message) -> None:
        got.append(message["step"])

    await bus.subscribe("conductor", handler)
    await bus.publish("conductor", {"type": "task", "step": "before"})
    await wait_until(lambda: got == ["before"])

    pending: asyncio.Task[None] | None = None
    try:
        await _rabbitmqctl("stop_app")
        await wait_until(lambda: not bus.healthy())
        # A publish while the broker is away waits (bounded) instead of failing at once...
        pending = asyncio.create_task(bus.publish("conductor", {"type": "task", "step": "during"}))
        # ...and a bus with a short publish_timeout gives up with a clear error.
        with pytest.raises(BusError, match="could not publish"):
            await impatient.publish("conductor", {"type": "task", "step": "lost"})
        assert not pending.done()
    finally:
        await _rabbitmqctl("start_app")
        await _rabbitmqctl("await_startup")

    assert pending is not None
    await asyncio.wait_for(pending, 120.0)
    await wait_until(bus.healthy, limit=60.0)
    await bus.publish("conductor", {"type": "task", "step": "after"})
    await wait_until(lambda: "during" in got and "after" in got, limit=60.0)
    assert got.count("before") == 1
