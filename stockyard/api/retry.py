"""Re-run a whole API request when the database says "try again".

:class:`RetryMiddleware` sits inside the request-id middleware (the re-run keeps the
request's ``x-openstack-request-id``) and around everything else. It runs the request,
keeping a copy of the body as the app reads it (up to :data:`MAX_BODY`; larger bodies
such as image uploads are not kept, so those requests are never re-run). When a
handler fails with a retryable database error (:func:`~stockyard.db.retry.is_retryable`:
deadlock, serialization failure, lost connection) before any response byte was sent, the
request is run again from the start after a jittered backoff: FastAPI solves its
dependencies again, so the attempt gets a fresh session, and the failed attempt's session
was closed (rolled back) on the way out.

A re-run is never blind. If a COMMIT of a write was sent before the error, the write may
have landed, so the client gets a 503 saying so instead of a second write; the one safe
exception is a deadlock or serialization failure refusing that COMMIT (the server rolled
it back). When attempts run out the answer is a 503 too, in the service's error shape.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stockyard.api.errors import error_body
from stockyard.api.responses import FastJSONResponse
from stockyard.bus import reqid
from stockyard.db.base import Database
from stockyard.db.retry import backoff, describe, is_retryable, tracking_commits, watch_commits

log = logging.getLogger(__name__)

ATTEMPTS = 5
"""Tries per request, the first included."""

MAX_BODY = 1 << 20
"""Bodies up to this size are kept for re-runs; larger ones stream through, un-retried."""

BUSY = (
    "The database was busy (deadlock or lost connection) and the request failed "
    "{n} times; nothing was changed. Please retry."
)
AMBIGUOUS = (
    "The database connection failed after the change was sent to it; the change may or "
    "may not have been applied. Check the resource before retrying."
)


class _Body:
    """Keeps the request body as the app reads it (up to ``limit``) for a replay.

    The app streams the body as it arrives (an upload handler sees its first chunk
    before the last one is sent); only a re-run reads the copy.
    """

    def __init__(self, scope: Scope, receive: Receive, limit: int) -> None:
        self._receive = receive
        self.limit = limit
        self.chunks: list[bytes] = []
        self.size = 0
        self.complete = False
        """The last body message was received."""
        self.kept = not _declared_over(scope, limit)
        """Every body byte received so far is in ``chunks``."""

    async def receive(self) -> Message:
        """The real ``receive``, keeping a copy of the body."""
        message = await self._receive()
        if message["type"] == "http.request" and not self.complete:
            chunk = message.get("body", b"")
            self.size += len(chunk)
            if self.kept and self.size > self.limit:
                self.kept = False
                self.chunks.clear()
            elif self.kept:
                self.chunks.append(chunk)
            self.complete = not message.get("more_body", False)
        return message

    async def whole(self) -> bool:
        """Read what the app left unread; True if all of the body is kept for a replay."""
        while self.kept and not self.complete:
            if (await self.receive())["type"] != "http.request":
                return False  # The client went away.
        return self.kept and self.complete

    def replay(self) -> Receive:
        """A ``receive`` that hands out the kept body, then the real messages."""
        body = b"".join(self.chunks)
        pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]

        async def replayed() -> Message:
            if pending:
                return pending.pop()
            return await self._receive()

        return replayed


def _declared_over(scope: Scope, limit: int) -> bool:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value) > limit
            except ValueError:
                return False
    return False


def _leaf(exc: BaseException) -> BaseException:
    # Task groups (e.g. in streaming responses) wrap one error in an ExceptionGroup.
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


class RetryMiddleware:
    """Pure ASGI: re-runs requests that failed on a retryable database error."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        db: Database | None = None,
        attempts: int = ATTEMPTS,
        max_body: int = MAX_BODY,
    ) -> None:
        """``db``: the engine whose commits decide whether a re-run is safe (without one,
        any retryable error before the response re-runs the request)."""
        self.app = app
        self.attempts = max(1, attempts)
        self.max_body = max_body
        if db is not None:
            watch_commits(db.engine)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = _Body(scope, receive, self.max_body)
        for attempt in range(1, self.attempts + 1):
            started = False

            async def tracked(message: Message) -> None:
                nonlocal started
                if message["type"] == "http.response.start":
                    started = True
                await send(message)

            with tracking_commits() as commits:
                try:
                    # A copy per attempt: routing writes into the scope. ``state`` stays
                    # shared, so what the handler records there reaches outer middleware.
                    await self.app(
                        dict(scope), body.receive if attempt == 1 else body.replay(), tracked
                    )
                    return
                except Exception as raised:
                    exc = _leaf(raised)
                    if started or not is_retryable(exc) or not await body.whole():
                        raise
                    if not commits.safe_to_rerun(exc):
                        self._log(scope, "not re-run: a write may have been committed", exc)
                        await self._unavailable(scope, receive, send, AMBIGUOUS)
                        return
                    if attempt >= self.attempts:
                        self._log(scope, f"giving up after {attempt} attempts", exc)
                        await self._unavailable(
                            scope, receive, send, BUSY.format(n=attempt), retry_after=True
                        )
                        return
            delay = backoff(attempt)
            self._log(scope, f"re-running (attempt {attempt + 1}/{self.attempts})", exc, delay)
            await asyncio.sleep(delay)

    def _log(self, scope: Scope, what: str, exc: BaseException, delay: float = 0.0) -> None:
        log.warning(
            "%s %s: %s after %s%s [%s]",
            scope.get("method"),
            scope.get("path"),
            what,
            describe(exc),
            f"; in {delay:.2f} s" if delay else "",
            _request_id(scope),
        )

    async def _unavailable(
        self, scope: Scope, receive: Receive, send: Send, message: str, retry_after: bool = False
    ) -> None:
        path = str(scope.get("path", ""))
        headers = {"Retry-After": "1"} if retry_after else None
        response = FastJSONResponse(error_body(path, 503, message), 503, headers=headers)
        await response(scope, receive, send)


def _request_id(scope: Scope) -> str:
    state: Any = scope.get("state") or {}
    rid = state.get("request_id") if isinstance(state, dict) else None
    return str(rid or reqid.current())
