"""In-process bus for ``stockyard up``: one asyncio queue per topic."""

from __future__ import annotations

import asyncio
import logging

from stockyard.bus import reqid
from stockyard.bus.base import Handler, Message

log = logging.getLogger(__name__)


class MemoryBus:
    """Work-queue semantics in one process; several handlers on a topic share its work."""

    def __init__(self) -> None:
        self._queues: dict[str, asyncio.Queue[Message]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False

    def _queue(self, topic: str) -> asyncio.Queue[Message]:
        q = self._queues.get(topic)
        if q is None:
            q = self._queues[topic] = asyncio.Queue()
        return q

    async def start(self) -> None:
        return None

    async def publish(self, topic: str, message: Message) -> None:
        self._queue(topic).put_nowait(message)

    async def subscribe(self, topic: str, handler: Handler, concurrency: int = 8) -> None:
        queue = self._queue(topic)
        handler = reqid.with_request_id(handler)
        for _ in range(concurrency):
            self._tasks.append(asyncio.create_task(self._consume(topic, queue, handler)))

    async def _consume(self, topic: str, queue: asyncio.Queue[Message], handler: Handler) -> None:
        me = asyncio.current_task()
        while True:
            message = await queue.get()
            try:
                await handler(message)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("handler for %s failed on %s", topic, message.get("type"))
            if me is not None and me.cancelling():
                # The handler swallowed this task's cancel (Python 3.11's asyncio.wait_for
                # does when its call finishes as the cancel lands): stop all the same, or
                # close() waits for this consumer forever (a hung test teardown, seen).
                raise asyncio.CancelledError

    def healthy(self) -> bool:
        """Always true until closed: there is no broker to lose."""
        return not self._closed

    async def close(self) -> None:
        self._closed = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
