"""``asyncio.gather`` for a page's API calls that leaves none running when one fails.

``asyncio.gather`` raises the first failure (a 401, an API error) and lets the other calls
run on with nobody waiting for them: the page has answered, but their requests still hold
API sessions, and a closed event loop then strands their database connections (the
in-process dashboard tests saw aiosqlite threads outlive their loop). :func:`together`
raises the same first failure after the other calls have ended.

It waits for them rather than cancelling them: a call cancelled halfway through an
in-process API request (the ASGI transport runs the API in the caller's task) left a
task of Starlette's middleware that never ended, and the event loop's shutdown waited
for it forever. Every call is bounded by its client's timeout, so the wait is too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar, overload

T = TypeVar("T")
T1 = TypeVar("T1")
T2 = TypeVar("T2")
T3 = TypeVar("T3")
T4 = TypeVar("T4")
T5 = TypeVar("T5")
T6 = TypeVar("T6")


@overload
async def together(a1: Awaitable[T1], a2: Awaitable[T2], /) -> tuple[T1, T2]: ...
@overload
async def together(
    a1: Awaitable[T1], a2: Awaitable[T2], a3: Awaitable[T3], /
) -> tuple[T1, T2, T3]: ...
@overload
async def together(
    a1: Awaitable[T1], a2: Awaitable[T2], a3: Awaitable[T3], a4: Awaitable[T4], /
) -> tuple[T1, T2, T3, T4]: ...
@overload
async def together(
    a1: Awaitable[T1],
    a2: Awaitable[T2],
    a3: Awaitable[T3],
    a4: Awaitable[T4],
    a5: Awaitable[T5],
    /,
) -> tuple[T1, T2, T3, T4, T5]: ...
@overload
async def together(
    a1: Awaitable[T1],
    a2: Awaitable[T2],
    a3: Awaitable[T3],
    a4: Awaitable[T4],
    a5: Awaitable[T5],
    a6: Awaitable[T6],
    /,
) -> tuple[T1, T2, T3, T4, T5, T6]: ...
@overload
async def together(*aws: Awaitable[T]) -> list[T]: ...
async def together(*aws: Awaitable[Any]) -> Any:
    """The results of ``aws`` run concurrently, in order, as ``asyncio.gather``'s."""
    tasks = [asyncio.ensure_future(aw) for aw in aws]
    results = await asyncio.gather(*tasks, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results
