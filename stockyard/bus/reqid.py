"""The current request id, carried from the API across the bus into logs.

The API puts ``x-openstack-request-id`` into every bus message as ``request_id``; both bus
implementations run each handler inside :func:`bound` for that id, so every log line a
handler writes (and every message it publishes) carries the id of the user request that
caused it. Install :class:`RequestIdFilter` on the log handlers and add
``%(request_id)s`` to the format to see it.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from stockyard.bus.base import Handler, Message

NO_REQUEST = "-"

request_id_var: ContextVar[str] = ContextVar("stockyard_request_id", default=NO_REQUEST)


def current() -> str:
    """The request id of the running task, or ``"-"`` outside any request."""
    return request_id_var.get()


@contextmanager
def bound(request_id: str | None) -> Iterator[None]:
    """Run the block with ``request_id`` as the current request id (empty/None -> "-")."""
    token = request_id_var.set(request_id or NO_REQUEST)
    try:
        yield
    finally:
        request_id_var.reset(token)


def message_request_id(message: Message) -> str:
    """The ``request_id`` a bus message carries, or "" when it has none."""
    rid = message.get("request_id")
    return rid if isinstance(rid, str) else ""


def with_request_id(handler: Handler) -> Handler:
    """Wrap a bus handler so it runs with the message's ``request_id`` bound."""

    @functools.wraps(handler)
    async def wrapped(message: Message) -> None:
        with bound(message_request_id(message)):
            await handler(message)

    return wrapped


class RequestIdFilter(logging.Filter):
    """Adds ``record.request_id`` (the current request id) to every record it sees."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return True


def install_log_filter(logger: logging.Logger | None = None) -> RequestIdFilter:
    """Attach one :class:`RequestIdFilter` to every handler of ``logger`` (root by default).

    Filters go on handlers, not loggers, because a logger's filters do not apply to
    records propagated from its children.
    """
    target = logger or logging.getLogger()
    flt = RequestIdFilter()
    for handler in target.handlers:
        if not any(isinstance(f, RequestIdFilter) for f in handler.filters):
            handler.addFilter(flt)
    return flt
