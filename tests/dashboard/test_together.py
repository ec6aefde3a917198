"""A page's concurrent API calls: one failing leaves none of the others running."""

from __future__ import annotations

import asyncio

import pytest

from stockyard.dashboard.client import Unauthenticated
from stockyard.dashboard.together import together


async def test_results_come_in_order() -> None:
    async def value(v: int, delay: float) -> int:
        await asyncio.sleep(delay)
        return v

    assert list(await together(value(1, 0.02), value(2, 0), value(3, 0.01))) == [1, 2, 3]
    assert list(await together()) == []


async def test_a_failure_is_raised_once_the_other_calls_have_ended() -> None:
    finished: list[str] = []

    async def slow(name: str) -> str:
        await asyncio.sleep(0.05)
        finished.append(name)
        return name

    async def refused() -> str:
        raise Unauthenticated(401, "token revoked")

    with pytest.raises(Unauthenticated):
        await together(slow("a"), refused(), slow("b"))
    # Nothing is left running once the page has its answer, and nothing was cut halfway
    # (an in-process API request cancelled halfway left a task the loop never saw end).
    assert sorted(finished) == ["a", "b"]
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []
