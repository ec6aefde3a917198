"""RetryMiddleware at the ASGI level: body replay, big bodies, started responses."""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from starlette.types import Message, Receive, Scope, Send

from stockyard.api.retry import MAX_BODY, RetryMiddleware
from tests.api.test_retry import deadlock


class App:
    """Reads the whole body, then fails the first ``fail`` times with ``error``."""

    def __init__(self, fail: int, error: type[Exception] | None = None, late: bool = False):
        self.fail = fail
        self.error = error
        self.late = late
        self.bodies: list[bytes] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        self.bodies.append(body)
        if self.late:
            await send({"type": "http.response.start", "status": 200, "headers": []})
        if len(self.bodies) <= self.fail:
            raise self.error() if self.error else deadlock()
        if not self.late:
            await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok:" + body[:8]})


def scope(length: int | None, path: str = "/compute/v2.1/x") -> Scope:
    headers = [] if length is None else [(b"content-length", str(length).encode())]
    return {"type": "http", "method": "POST", "path": path, "headers": headers, "state": {}}


def chunks(parts: Iterable[bytes]) -> Receive:
    pending = list(parts)

    async def receive() -> Message:
        if not pending:
            return {"type": "http.disconnect"}
        part = pending.pop(0)
        return {"type": "http.request", "body": part, "more_body": bool(pending)}

    return receive


class Sent:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def __call__(self, message: Message) -> None:
        self.messages.append(message)

    @property
    def status(self) -> int:
        starts = [m for m in self.messages if m["type"] == "http.response.start"]
        assert len(starts) == 1, starts
        return int(starts[0]["status"])

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.messages[1:])


async def test_streamed_body_is_replayed_whole_on_each_attempt() -> None:
    app, sent = App(fail=2), Sent()
    await RetryMiddleware(app)(scope(None), chunks([b"abc", b"def", b"ghi"]), sent)
    assert app.bodies == [b"abcdefghi"] * 3
    assert (sent.status, sent.body) == (200, b"ok:abcdefgh")


async def test_first_attempt_streams_and_an_unread_body_is_read_for_the_rerun() -> None:
    """Chunks reach the app as they arrive; one that failed before reading gets it later."""
    seen: list[list[bytes]] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if not seen:
            seen.append([])
            raise deadlock()  # e.g. in auth, before the body was looked at
        parts, more = [], True
        while more:
            message = await receive()
            parts.append(message.get("body", b""))
            more = message.get("more_body", False)
        seen.append(parts)
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": b"".join(parts)})

    sent = Sent()
    await RetryMiddleware(app)(scope(None), chunks([b"ab", b"cd"]), sent)
    assert seen == [[], [b"abcd"]]
    assert (sent.status, sent.body) == (201, b"abcd")

    streamed = App(fail=0)
    received: list[bytes] = []
    inner = chunks([b"12", b"34"])

    async def spy() -> Message:
        message = await inner()
        received.append(message.get("body", b""))
        return message

    await RetryMiddleware(streamed)(scope(None), spy, Sent())
    assert received == [b"12", b"34"] and streamed.bodies == [b"1234"]


async def test_body_over_the_limit_by_length_streams_through_unretried() -> None:
    app, sent = App(fail=1), Sent()
    big = b"x" * (MAX_BODY + 1)
    with pytest.raises(Exception, match="Deadlock"):
        await RetryMiddleware(app)(scope(len(big)), chunks([big[:1000], big[1000:]]), sent)
    assert app.bodies == [big]
    assert sent.messages == []


async def test_body_over_the_limit_without_length_streams_through_unretried() -> None:
    app, sent = App(fail=1), Sent()
    parts = [b"y" * (MAX_BODY // 2)] * 3
    with pytest.raises(Exception, match="Deadlock"):
        await RetryMiddleware(app)(scope(None), chunks(parts), sent)
    assert app.bodies == [b"".join(parts)]


async def test_error_after_the_response_started_is_not_rerun() -> None:
    app, sent = App(fail=1, late=True), Sent()
    with pytest.raises(Exception, match="Deadlock"):
        await RetryMiddleware(app)(scope(3), chunks([b"abc"]), sent)
    assert len(app.bodies) == 1
    assert sent.status == 200


async def test_other_errors_propagate_at_once() -> None:
    app, sent = App(fail=1, error=KeyError), Sent()
    with pytest.raises(KeyError):
        await RetryMiddleware(app)(scope(3), chunks([b"abc"]), sent)
    assert len(app.bodies) == 1


async def test_exhausted_attempts_answer_503_for_the_service_of_the_path() -> None:
    app, sent = App(fail=99), Sent()
    await RetryMiddleware(app, attempts=3)(scope(3, "/identity/v3/x"), chunks([b"abc"]), sent)
    assert len(app.bodies) == 3
    assert sent.status == 503
    assert sent.body.startswith(b'{"error":{"code":503,"title":"Service Unavailable"')
