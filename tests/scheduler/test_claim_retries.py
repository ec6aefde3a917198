"""How long a placer keeps trying when other placers keep winning its claims.

A burst on two placers loses some claims on nearly every pass; only passes that settle
nothing at all may count toward giving up, or a slow machine fails builds that capacity
could still hold ("taken by concurrent builds") instead of placing or refusing them.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from stockyard.placement import build as build_mod
from stockyard.placement.burst import PassOutcome
from stockyard.placement.context import MAX_CLAIM_TRIES


class _Hosts:
    async def refresh(self) -> None:
        return None

    async def refresh_hosts(self, ids: set[int]) -> None:
        return None


class _Bus:
    async def publish(self, topic: str, message: Any) -> None:
        return None


def _flow(monkeypatch: pytest.MonkeyPatch, script: list[int]) -> tuple[Any, list[list[str]]]:
    """A flow whose passes each settle ``script[i]`` of the pending instances and lose
    the claims of the rest to another placer."""
    failed: list[list[str]] = []
    calls = iter(script)

    async def place_pass(ctx: Any, hosts: Any, batches: list[list[str]], recheck: bool) -> Any:
        pending = [u for b in batches for u in b]
        settled = next(calls, 0)
        rest = pending[settled:]
        return PassOutcome(retry=[rest] if rest else [], conflict_hosts={1} if rest else set())

    async def no_sleep(_seconds: float) -> None:
        return None

    monkeypatch.setattr(build_mod.burst, "place_pass", place_pass)
    monkeypatch.setattr(build_mod.asyncio, "sleep", no_sleep)
    ctx = SimpleNamespace(bus=_Bus())
    flow = build_mod.BuildFlow(ctx, _Hosts())  # type: ignore[arg-type]

    async def fail_all(uuids: list[str], message: str) -> None:
        failed.append(uuids)

    flow._fail_all = fail_all  # type: ignore[method-assign]
    return flow, failed


async def test_passes_that_settle_some_do_not_use_up_the_tries(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    uuids = [f"i{n}" for n in range(3 * MAX_CLAIM_TRIES)]
    # Each pass places one and loses the rest: far more passes than the tries.
    flow, failed = _flow(monkeypatch, [1] * len(uuids))
    await flow._place([uuids])
    assert failed == []


async def test_passes_that_settle_nothing_give_up_after_the_tries(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    script = [1, 1] + [0] * MAX_CLAIM_TRIES
    flow, failed = _flow(monkeypatch, script)
    await flow._place([["a", "b", "c", "d"]])
    assert failed == [["c", "d"]]
