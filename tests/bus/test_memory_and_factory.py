"""MemoryBus request-id propagation and health, the bus factory, reconnect backoff."""

from __future__ import annotations

import asyncio
import logging

import pytest
from yarl import URL

from stockyard.bus import reqid
from stockyard.bus.amqp import MAX_RECONNECT_INTERVAL, AmqpBus, _BackoffConnection
from stockyard.bus.base import Message
from stockyard.bus.factory import make_bus
from stockyard.bus.memory import MemoryBus


async def test_memory_bus_handler_sees_the_message_request_id() -> None:
    bus = MemoryBus()
    seen: list[str] = []
    done = asyncio.Event()

    async def handler(message: Message) -> None:
        seen.append(reqid.current())
        if len(seen) == 2:
            done.set()

    await bus.subscribe("conductor", handler, concurrency=1)
    await bus.publish("conductor", {"type": "task", "request_id": "req-mem"})
    await bus.publish("conductor", {"type": "host_report"})
    async with asyncio.timeout(10):
        await done.wait()
    assert seen == ["req-mem", reqid.NO_REQUEST]
    assert bus.healthy()
    await bus.close()
    assert not bus.healthy()


async def test_close_ends_a_consumer_whose_handler_swallowed_the_cancel() -> None:
    """Python 3.11's asyncio.wait_for returns its call's result when the call finishes
    as the cancel lands, and the cancel is lost; a handler doing that once hung close()
    (and the teardown of a test) forever."""
    bus = MemoryBus()
    inside = asyncio.Event()

    async def handler(message: Message) -> None:
        inside.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            return  # what the lost cancel looks like to the caller

    await bus.subscribe("volume", handler, concurrency=1)
    await bus.publish("volume", {"type": "volume_hint"})
    await inside.wait()
    async with asyncio.timeout(30):  # a hang guard, not a timing check
        await bus.close()


def test_log_filter_adds_the_current_request_id() -> None:
    logger = logging.getLogger("tests.bus.filter")
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep()
    logger.addHandler(handler)
    try:
        reqid.install_log_filter(logger)
        with reqid.bound("req-log"):
            logger.warning("inside")
        logger.warning("outside")
    finally:
        logger.removeHandler(handler)
    assert [getattr(r, "request_id", None) for r in records] == ["req-log", "-"]


def test_make_bus_picks_by_scheme() -> None:
    assert isinstance(make_bus("memory://"), MemoryBus)
    bus = make_bus("amqp://guest:guest@127.0.0.1:5672/")
    assert isinstance(bus, AmqpBus)
    assert not bus.healthy()


def test_make_bus_rejects_other_schemes_naming_bus_url() -> None:
    with pytest.raises(ValueError, match="bus_url") as info:
        make_bus("redis://user:pw@127.0.0.1/")
    assert "pw" not in str(info.value)


async def test_reconnect_interval_grows_with_the_outage_and_resets() -> None:
    conn = _BackoffConnection(URL("amqp://guest:guest@127.0.0.1:1/"), reconnect_interval=1.0)
    loop = asyncio.get_running_loop()
    assert 0.8 <= conn.reconnect_interval <= 1.2
    conn._down_since = loop.time() - 20.0
    assert 8.0 <= conn.reconnect_interval <= 12.0
    conn._down_since = loop.time() - 1000.0
    assert conn.reconnect_interval <= MAX_RECONNECT_INTERVAL * 1.2
    conn.connected.set()
    assert conn.reconnect_interval == 1.0
