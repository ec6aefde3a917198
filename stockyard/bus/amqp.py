"""RabbitMQ bus for production: durable work queues, publisher confirms, manual acks.

One durable queue per topic, named ``<prefix>.<topic>`` (``stockyard.conductor``,
``stockyard.compute.<host>``), fed through the default exchange. Every process that
subscribes to a topic consumes the same queue, so they share its work (competing
consumers). A message is acked only after its handler returned, i.e. after the handler
has recorded its work in the database; a handler that raises gets the message requeued
once, and a second failure drops it with an error log (messages are hints: the reconciler
finds what was lost).

The connection is ``aio_pika.connect_robust``: after a broker restart it reconnects and
re-opens channels, re-declares queues, restores QoS and consumers by itself. Publishing
while the broker is away retries with exponential backoff up to ``publish_timeout`` and
then raises :class:`~stockyard.bus.base.BusError`.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import orjson
from aio_pika.abc import (
    AbstractIncomingMessage,
    AbstractRobustChannel,
    AbstractRobustConnection,
)
from aio_pika.exceptions import CONNECTION_EXCEPTIONS
from aio_pika.robust_connection import RobustConnection

from stockyard.bus import contract, reqid
from stockyard.bus.base import BusError, Handler, Message

log = logging.getLogger(__name__)

# What a publish attempt can die of while the broker is away or restarting (TimeoutError
# is an OSError, so the confirm timeout is in here too).
_RETRYABLE: tuple[type[BaseException], ...] = (*CONNECTION_EXCEPTIONS, TimeoutError)


MAX_RECONNECT_INTERVAL = 30.0


# Reply topics (``reply.<random>``, one per API process) die with their process: RabbitMQ
# deletes such a queue once it has had no consumer for this long, so restarts of API
# workers do not leave queues behind, while a consumer that reconnects in time keeps it.
REPLY_QUEUE_EXPIRES_MS = 60_000


def _queue_options(topic: str) -> dict[str, Any]:
    """Declare options of a topic's queue; publisher and consumer must agree on them."""
    if topic.startswith(contract.REPLY_PREFIX):
        return {"durable": False, "arguments": {"x-expires": REPLY_QUEUE_EXPIRES_MS}}
    return {"durable": True}


class _BackoffConnection(RobustConnection):
    """A robust connection whose reconnect interval grows with the outage.

    aio-pika waits a fixed ``reconnect_interval`` between attempts; here the wait is half
    the time the broker has been away (so the sum of waits roughly doubles: exponential
    backoff), clamped to [base, MAX_RECONNECT_INTERVAL], with a per-process jitter so a
    fleet of agents does not reconnect in lockstep after a broker restart.
    """

    _base_interval = 1.0
    _down_since: float | None = None
    _jitter = 1.0

    @property
    def reconnect_interval(self) -> float:
        base = self._base_interval
        connected = getattr(self, "connected", None)
        if connected is None or connected.is_set():
            self._down_since = None
            return base
        now = self.loop.time()
        if self._down_since is None:
            self._down_since = now
        grown = (now - self._down_since) / 2
        return min(MAX_RECONNECT_INTERVAL, max(base, grown)) * self._jitter

    @reconnect_interval.setter
    def reconnect_interval(self, value: float) -> None:
        self._base_interval = float(value)
        self._jitter = random.uniform(0.8, 1.2)


def redact_url(url: str) -> str:
    """``url`` without its password, for logs and error messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username}:***@{host}" if parts.username else host
    return urlunsplit(parts._replace(netloc=netloc))


class AmqpBus:
    """The :class:`~stockyard.bus.base.Bus` protocol over RabbitMQ (aio-pika)."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "stockyard",
        publish_timeout: float = 30.0,
        confirm_timeout: float = 10.0,
        reconnect_interval: float = 1.0,
    ) -> None:
        self._url = url
        self.prefix = prefix
        self._publish_timeout = publish_timeout
        self._confirm_timeout = confirm_timeout
        self._reconnect_interval = reconnect_interval
        self._connection: AbstractRobustConnection | None = None
        self._publisher: AbstractRobustChannel | None = None
        self._consumer_channels: list[AbstractRobustChannel] = []
        self._declared: set[str] = set()
        self.queues: set[str] = set()
        """Every queue name this bus declared (for operators' tooling and test cleanup)."""
        self._declare_lock = asyncio.Lock()
        self._closed = False

    def queue_name(self, topic: str) -> str:
        """The RabbitMQ queue that holds ``topic``'s messages."""
        return f"{self.prefix}.{topic}"

    async def start(self) -> None:
        """Connect and open the publishing channel (with publisher confirms)."""
        if self._connection is not None:
            return
        if self._closed:
            raise BusError("the AMQP bus is closed")
        try:
            connection = await aio_pika.connect_robust(
                self._url,
                reconnect_interval=self._reconnect_interval,
                connection_class=_BackoffConnection,
                client_properties={"connection_name": f"stockyard:{self.prefix}"},
            )
        except _RETRYABLE as error:
            raise BusError(
                f"cannot connect to the message broker at {redact_url(self._url)}: {error}"
            ) from error
        self._connection = connection
        connection.reconnect_callbacks.add(self._on_reconnect)
        channel = await connection.channel(publisher_confirms=True)
        self._publisher = channel

    def _on_reconnect(self, *_: object) -> None:
        log.warning("reconnected to the message broker at %s", redact_url(self._url))

    def healthy(self) -> bool:
        """True while the broker connection is up (False during a reconnect)."""
        conn = self._connection
        return (
            not self._closed and conn is not None and not conn.is_closed and conn.connected.is_set()
        )

    async def _ensure_queue(self, topic: str) -> None:
        """Declare the topic's durable queue once, so early messages are kept."""
        if topic in self._declared:
            return
        async with self._declare_lock:
            if topic in self._declared:
                return
            assert self._publisher is not None
            # Declared on the robust publishing channel: it is re-declared after a
            # reconnect, in case the broker lost it.
            await self._publisher.declare_queue(self.queue_name(topic), **_queue_options(topic))
            self.queues.add(self.queue_name(topic))
            self._declared.add(topic)

    async def publish(self, topic: str, message: Message) -> None:
        """Send ``message`` to ``topic`` and wait for the broker's confirm.

        Retries with backoff while the broker is unreachable; raises ``BusError`` after
        ``publish_timeout`` seconds without a confirm.
        """
        if self._closed:
            raise BusError("the AMQP bus is closed")
        if self._connection is None:
            await self.start()
        rid = reqid.message_request_id(message)
        if not rid and reqid.current() != reqid.NO_REQUEST:
            rid = reqid.current()
        amqp_message = aio_pika.Message(
            orjson.dumps(message),
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            correlation_id=rid or None,
            headers={"request_id": rid} if rid else None,
            type=str(message.get("type") or "") or None,
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._publish_timeout
        delay = 0.1
        attempt = 0
        while True:
            attempt += 1
            remaining = deadline - loop.time()
            try:
                async with asyncio.timeout(max(0.1, min(self._confirm_timeout, remaining))):
                    await self._publish_once(topic, amqp_message)
                if attempt > 1:
                    log.info("published to %s after %d attempts", topic, attempt)
                return
            except _RETRYABLE as error:
                if self._closed:
                    raise BusError("the AMQP bus was closed while publishing") from error
                if loop.time() + delay >= deadline:
                    raise BusError(
                        f"could not publish to {self.queue_name(topic)!r} within "
                        f"{self._publish_timeout:g}s ({attempt} attempts): "
                        f"{type(error).__name__}: {error}"
                    ) from error
                log.warning(
                    "publish to %s failed (%s: %s); retrying in %.1fs",
                    topic,
                    type(error).__name__,
                    error,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _publish_once(self, topic: str, message: aio_pika.Message) -> None:
        channel = self._publisher
        assert channel is not None
        # A robust channel being restored after a reconnect is not usable until ready.
        await channel.ready()
        await self._ensure_queue(topic)
        # With publisher confirms the awaited publish returns on the broker's ack and
        # raises on a nack or a lost channel.
        await channel.default_exchange.publish(message, routing_key=self.queue_name(topic))

    async def subscribe(self, topic: str, handler: Handler, concurrency: int = 8) -> None:
        """Consume ``topic`` with up to ``concurrency`` unacked messages in flight.

        Each subscription gets its own channel so its prefetch is its own.
        """
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        if self._connection is None:
            await self.start()
        assert self._connection is not None
        channel: AbstractRobustChannel = await self._connection.channel()
        self._consumer_channels.append(channel)
        await channel.set_qos(prefetch_count=concurrency)
        queue = await channel.declare_queue(self.queue_name(topic), **_queue_options(topic))
        self.queues.add(queue.name)
        await queue.consume(_Consumer(topic, handler), no_ack=False)
        log.info("consuming %s (prefetch %d)", queue.name, concurrency)

    async def close(self) -> None:
        """Close the channels and the connection; unacked messages go back to the queue."""
        self._closed = True
        connection, self._connection = self._connection, None
        self._publisher = None
        self._consumer_channels.clear()
        if connection is not None:
            try:
                await connection.close()
            except _RETRYABLE as error:
                log.debug("closing the broker connection: %s", error)


class _Consumer:
    """Runs the handler for one delivery and settles it (ack / requeue once / drop)."""

    def __init__(self, topic: str, handler: Handler) -> None:
        self.topic = topic
        self.handler = handler

    async def __call__(self, message: AbstractIncomingMessage) -> None:
        try:
            body = orjson.loads(message.body)
            if not isinstance(body, dict):
                raise ValueError(f"expected a JSON object, got {type(body).__name__}")
        except ValueError as error:
            log.error("dropping undecodable message on %s: %s", self.topic, error)
            await _settle(message, ack=False, requeue=False)
            return
        rid = reqid.message_request_id(body) or message.correlation_id or ""
        with reqid.bound(rid):
            try:
                await self.handler(body)
            except Exception:
                if message.redelivered:
                    log.exception(
                        "handler for %s failed again on %s; dropping it (the reconciler "
                        "will find the work)",
                        self.topic,
                        body.get("type"),
                    )
                    await _settle(message, ack=False, requeue=False)
                else:
                    log.exception(
                        "handler for %s failed on %s; requeueing it once",
                        self.topic,
                        body.get("type"),
                    )
                    await _settle(message, ack=False, requeue=True)
                return
            await _settle(message, ack=True, requeue=False)


async def _settle(message: AbstractIncomingMessage, *, ack: bool, requeue: bool) -> None:
    # A delivery belongs to the channel it came on: if that channel died (broker
    # restart), the broker has already put the message back in the queue.
    try:
        if ack:
            await message.ack()
        else:
            await message.reject(requeue=requeue)
    except _RETRYABLE as error:
        log.warning(
            "could not settle a message (%s: %s); the broker will redeliver it",
            type(error).__name__,
            error,
        )
