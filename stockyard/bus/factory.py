"""Pick the bus implementation from ``bus_url``."""

from __future__ import annotations

from stockyard.bus.base import Bus
from stockyard.bus.memory import MemoryBus


def make_bus(url: str) -> Bus:
    """``memory://`` -> in-process :class:`MemoryBus`; ``amqp://``/``amqps://`` -> AmqpBus.

    Raises ``ValueError`` naming ``bus_url`` for any other scheme.
    """
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme == "memory":
        return MemoryBus()
    if scheme in ("amqp", "amqps"):
        # Imported here so ``stockyard up`` with the memory bus never loads aio-pika.
        from stockyard.bus.amqp import AmqpBus

        return AmqpBus(url)
    raise ValueError(
        f"bus_url: unsupported scheme {scheme!r} (use memory:// or amqp://user:pass@host/vhost)"
    )
