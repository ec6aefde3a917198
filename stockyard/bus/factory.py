"""Pick the bus implementation from ``bus_url``."""

from __future__ import annotations

from stockyard.bus.base import Bus
from stockyard.bus.memory import MemoryBus
from stockyard.extras import driver_import


def make_bus(url: str) -> Bus:
    """``memory://`` -> in-process :class:`MemoryBus`; ``amqp://``/``amqps://`` -> AmqpBus.

    Raises ``ValueError`` naming ``bus_url`` for any other scheme, and
    :class:`~stockyard.extras.MissingExtra` for amqp without aio-pika installed.
    """
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme == "memory":
        return MemoryBus()
    if scheme in ("amqp", "amqps"):
        # Imported here so ``stockyard up`` with the memory bus never loads aio-pika; without
        # it (no ``prod`` extra) this stops with the extra to install.
        with driver_import(f"bus_url {scheme}://"):
            from stockyard.bus.amqp import AmqpBus

        return AmqpBus(url)
    raise ValueError(
        f"bus_url: unsupported scheme {scheme!r} (use memory:// or amqp://user:pass@host/vhost)"
    )
