"""``os-getConsoleOutput`` (``openstack console log show``): a guest's serial console.

The API holds no console itself: it asks the agent of the server's host over the bus
(op ``console`` on ``compute.<host>``) and waits for the answer on a reply topic of its
own, ``reply.<random>``, one per API process (a worker of ``stockyard api --workers N``
is a process). Replies are matched to requests by ``reply_id``; one that comes after the
request gave up is dropped. Works the same on the in-process bus and on RabbitMQ, since
it uses only ``publish``/``subscribe``.

Errors, in the compute error body: 404 unknown server (or another project's), 409 the
server has no host yet, 501 the host's driver has no console log, 503 no answer in
``console_timeout_seconds``.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.api.compute.server_common import load_server
from stockyard.api.errors import APIError
from stockyard.api.state import APIState
from stockyard.bus import contract
from stockyard.bus.base import Bus, Message
from stockyard.identity.context import RequestContext
from stockyard.lifecycle.messages import instance_spec

log = logging.getLogger(__name__)

ACTION = "os-getConsoleOutput"
_STATE_KEY = "console_replies"


class ConsoleReplies:
    """This process's reply topic and the console requests waiting on it."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.topic = contract.new_reply_topic()
        self._waiting: dict[str, asyncio.Future[contract.ConsoleOutput]] = {}
        self._subscribed = False
        self._lock = asyncio.Lock()

    async def _ensure_subscribed(self) -> None:
        if self._subscribed:
            return
        async with self._lock:
            if not self._subscribed:
                await self.bus.subscribe(self.topic, self._on_reply, concurrency=1)
                self._subscribed = True

    async def _on_reply(self, message: Message) -> None:
        reply = contract.decode_as(message, contract.ConsoleOutput, self.topic)
        if reply is None:
            return
        future = self._waiting.get(reply.reply_id)
        if future is None or future.done():
            log.debug("late or unknown console reply %s dropped", reply.reply_id)
            return
        future.set_result(reply)

    async def ask(
        self, host: str, request: contract.ConsoleRequest, wait_seconds: float
    ) -> contract.ConsoleOutput | None:
        """Send ``request`` to ``host``'s agent; its reply, or None on timeout."""
        await self._ensure_subscribed()
        reply_id = secrets.token_hex(16)
        future: asyncio.Future[contract.ConsoleOutput] = asyncio.get_running_loop().create_future()
        self._waiting[reply_id] = future
        try:
            message = request.model_copy(update={"reply_to": self.topic, "reply_id": reply_id})
            await self.bus.publish(contract.compute_topic(host), contract.encode(message))
            async with asyncio.timeout(wait_seconds):
                return await future
        except TimeoutError:
            return None
        finally:
            self._waiting.pop(reply_id, None)


def replies_of(state: APIState) -> ConsoleReplies:
    """The process's ``ConsoleReplies`` (made on first use, kept in ``state.extra``)."""
    replies = state.extra.get(_STATE_KEY)
    if not isinstance(replies, ConsoleReplies) or replies.bus is not state.bus:
        replies = ConsoleReplies(state.bus)
        state.extra[_STATE_KEY] = replies
    return replies


def parse_length(value: Any) -> int | None:
    """Nova's ``length``: an integer (or its string), ``-1`` or absent for everything."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise APIError(400, f"Invalid input for field/attribute {ACTION}: must be an object.")
    length = value.get("length")
    if length is None:
        return None
    digits = length.removeprefix("-") if isinstance(length, str) else ""
    if digits.isascii() and digits.isdecimal():  # "²" is isdigit() but not int()-able
        length = int(str(length))
    if not isinstance(length, int) or isinstance(length, bool) or length < -1:
        raise APIError(
            400,
            f"Invalid input for field/attribute length. Value: {length!r}. "
            "It must be an integer of at least -1.",
        )
    # More lines than any console keeps is all of it (and keeps the bus's ints 64-bit).
    return None if length == -1 or length > 2**31 else length


async def console_output(
    state: APIState,
    session: AsyncSession,
    ctx: RequestContext,
    server_id: str,
    value: Any,
    request_id: str,
) -> dict[str, Any]:
    """The body of ``os-getConsoleOutput``: ``{"output": <text>}``."""
    length = parse_length(value)
    inst = await load_server(session, ctx, server_id)
    host = inst.host
    if not host:
        raise APIError(409, f"Instance {inst.uuid} is not ready: it has no host yet.")
    # reply_to is filled in by ``ask``: the topic of this process.
    request = contract.ConsoleRequest(
        instance=instance_spec(inst), length=length, reply_to="-", request_id=request_id
    )
    # Nothing more to read: do not hold a transaction open while the host answers.
    await session.rollback()
    timeout = state.settings.console_timeout_seconds
    reply = await replies_of(state).ask(host, request, timeout)
    if reply is None:
        raise APIError(
            503, f"Compute host {host} did not return the console of {server_id} in {timeout:g}s."
        )
    if not reply.ok:
        code = reply.code or 500
        message = reply.error or "unknown error"
        if code == 501:
            raise APIError(
                501, f"Unable to get console log, functionality not implemented. {message}"
            )
        # 404: the host does not know the guest; 400: it could not read our request.
        raise APIError(code if code in (400, 404) else 500, message)
    return {"output": reply.output}
