"""The bus transport: work queues by topic. What travels on it (topics and one model per
message) is the contract in :mod:`stockyard.bus.contract`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

Message = dict[str, Any]
Handler = Callable[[Message], Awaitable[None]]


class BusError(Exception):
    """The bus could not do what was asked (broker unreachable for too long, closed bus)."""


class Bus(Protocol):
    """Work queues by topic: each message goes to one subscriber of its topic.

    Topics: ``scheduler`` (placement work for any scheduler), ``conductor`` (work for any
    conductor), ``conductor.reports`` (host report batches), ``compute.<host>`` (one
    agent), ``reply.<random>`` (one API process).
    A handler that raises leaves the message to be dropped (in-process) or redelivered
    (AMQP); either way the reconciler, not the bus, guarantees progress.
    """

    async def start(self) -> None: ...

    async def publish(self, topic: str, message: Message) -> None: ...

    async def subscribe(self, topic: str, handler: Handler, concurrency: int = 8) -> None:
        """Run ``handler`` for messages of ``topic``, up to ``concurrency`` at once."""
        ...

    async def close(self) -> None: ...

    def healthy(self) -> bool:
        """True while the bus can publish and deliver (for readiness endpoints)."""
        ...
