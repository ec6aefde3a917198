"""AmqpBus against the real local RabbitMQ: round trip, sharing, redelivery, durability."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from stockyard.bus import reqid
from stockyard.bus.amqp import AmqpBus, redact_url
from stockyard.bus.base import BusError, Message
from tests.bus.conftest import BusFactory, queue_depth, wait_until


async def test_round_trip_delivers_the_same_dict(amqp_bus: BusFactory) -> None:
    bus = await amqp_bus()
    got: list[Message] = []

    async def handler(message: Message) -> None:
        got.append(message)

    await bus.subscribe("conductor", handler)
    sent = {"type": "task", "instance_uuid": "u-1", "request_id": "req-1", "n": [1, 2]}
    await bus.publish("conductor", sent)
    await wait_until(lambda: len(got) == 1)
    assert got == [sent]
    assert bus.healthy()
    assert bus.queue_name("compute.host-1") == f"{bus.prefix}.compute.host-1"


async def test_competing_consumers_share_the_work(amqp_bus: BusFactory) -> None:
    first, second = await amqp_bus(), await amqp_bus()
    seen: dict[str, list[int]] = {"first": [], "second": []}

    def recorder(name: str) -> Any:
        async def handler(message: Message) -> None:
            await asyncio.sleep(0.01)
            seen[name].append(message["n"])

        return handler

    await first.subscribe("conductor", recorder("first"), concurrency=1)
    await second.subscribe("conductor", recorder("second"), concurrency=1)
    for n in range(20):
        await first.publish("conductor", {"type": "task", "n": n})
    await wait_until(lambda: len(seen["first"]) + len(seen["second"]) == 20)
    assert seen["first"] and seen["second"]
    assert sorted(seen["first"] + seen["second"]) == list(range(20))


async def test_failing_handler_gets_exactly_one_redelivery(
    amqp_bus: BusFactory, rabbit_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    bus = await amqp_bus()
    attempts: list[bool] = []
    done: list[str] = []

    async def handler(message: Message) -> None:
        if message["type"] == "boom":
            attempts.append(True)
            raise RuntimeError("driver exploded")
        done.append(message["type"])

    await bus.publish("conductor", {"type": "boom"})
    await bus.publish("conductor", {"type": "sentinel"})
    # Prefetch 1: the sentinel is delivered only once the failing message is settled.
    await bus.subscribe("conductor", handler, concurrency=1)
    await wait_until(lambda: done == ["sentinel"])
    assert len(attempts) == 2
    await bus.close()
    assert await queue_depth(rabbit_url, bus.queue_name("conductor")) == 0
    assert "requeueing it once" in caplog.text
    assert "dropping it" in caplog.text


async def test_messages_published_before_any_subscriber_are_kept(amqp_bus: BusFactory) -> None:
    publisher = await amqp_bus()
    for n in range(3):
        await publisher.publish("compute.host-a", {"type": "op", "n": n})
    await publisher.close()

    consumer = await amqp_bus()
    got: list[int] = []

    async def handler(message: Message) -> None:
        got.append(message["n"])

    await consumer.subscribe("compute.host-a", handler)
    await wait_until(lambda: len(got) == 3)
    assert sorted(got) == [0, 1, 2]


async def test_handler_runs_with_the_message_request_id(
    amqp_bus: BusFactory, caplog: pytest.LogCaptureFixture
) -> None:
    bus = await amqp_bus()
    seen: list[tuple[str, str]] = []
    log = logging.getLogger("tests.bus.handler")

    async def handler(message: Message) -> None:
        log.warning("handling %s", message["type"])
        seen.append((message["type"], reqid.current()))

    caplog.handler.addFilter(reqid.RequestIdFilter())
    await bus.subscribe("conductor", handler)
    await bus.publish("conductor", {"type": "build", "request_id": "req-abc"})
    # No request_id in the body: the publisher's current request id travels as the AMQP
    # correlation id.
    with reqid.bound("req-from-context"):
        await bus.publish("conductor", {"type": "host_report"})
    await bus.publish("conductor", {"type": "plain"})
    await wait_until(lambda: len(seen) == 3)
    assert dict(seen) == {
        "build": "req-abc",
        "host_report": "req-from-context",
        "plain": reqid.NO_REQUEST,
    }
    ids = {r.getMessage(): getattr(r, "request_id", None) for r in caplog.records}
    assert ids["handling build"] == "req-abc"
    assert reqid.current() == reqid.NO_REQUEST


async def test_start_against_a_closed_port_raises_bus_error_without_password() -> None:
    bus = AmqpBus("amqp://guest:s3cret@127.0.0.1:1/")
    with pytest.raises(BusError) as info:
        await bus.start()
    assert "s3cret" not in str(info.value)
    assert "127.0.0.1:1" in str(info.value)
    assert not bus.healthy()


async def test_publish_after_close_raises_bus_error(amqp_bus: BusFactory) -> None:
    bus = await amqp_bus()
    await bus.close()
    assert not bus.healthy()
    with pytest.raises(BusError):
        await bus.publish("conductor", {"type": "task"})


def test_redact_url_hides_only_the_password() -> None:
    assert redact_url("amqp://u:p@h:5672/v") == "amqp://u:***@h:5672/v"
    assert redact_url("amqp://h/") == "amqp://h/"
