"""The message bus contract. Messages are hints; the database is the truth."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

Message = dict[str, Any]
Handler = Callable[[Message], Awaitable[None]]


class Bus(Protocol):
    """Work queues by topic: each message goes to one subscriber of its topic.

    Topics: ``conductor`` (work for any conductor), ``compute.<host>`` (one agent).
    A handler that raises leaves the message to be dropped (in-process) or redelivered
    (AMQP); either way the reconciler, not the bus, guarantees progress.
    """

    async def start(self) -> None: ...

    async def publish(self, topic: str, message: Message) -> None: ...

    async def subscribe(self, topic: str, handler: Handler) -> None: ...

    async def close(self) -> None: ...
