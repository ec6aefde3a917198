"""A real MemoryBus that also records what is published, for exact counts."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from stockyard.bus.base import Message
from stockyard.bus.memory import MemoryBus


class RecordingBus(MemoryBus):
    """MemoryBus whose ``published`` lists every (topic, message) in order."""

    def __init__(self) -> None:
        super().__init__()
        self.published: list[tuple[str, Message]] = []
        self._changed = asyncio.Event()

    async def publish(self, topic: str, message: Message) -> None:
        self.published.append((topic, message))
        self._changed.set()
        await super().publish(topic, message)

    def on(self, topic: str, type_: str | None = None) -> list[Message]:
        return [
            m for t, m in self.published if t == topic and (type_ is None or m.get("type") == type_)
        ]

    async def wait_for(self, pred: Callable[[list[tuple[str, Message]]], bool]) -> None:
        """Wait until ``pred(published)`` holds (the 10 s limit only guards a hang)."""

        async def _wait() -> None:
            while not pred(self.published):
                self._changed.clear()
                await self._changed.wait()

        async with asyncio.timeout(10.0):
            await _wait()
