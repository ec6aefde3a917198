"""The weigher contract and Nova-style normalisation.

A weigher returns a raw number per host (bigger = better). The engine rescales each
weigher's raw values to 0..1 over the candidate list and sums
``multiplier * normalised``, so weighers with different units (MB, vCPUs, member
counts) combine sensibly and the multiplier alone sets the relative importance.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar

from stockyard.scheduler.context import SchedulingContext
from stockyard.scheduler.host_state import HostState
from stockyard.scheduler.request import RequestSpec


class HostWeigher(ABC):
    """Base class of scheduler weighers; plug-ins subclass it and register by name."""

    #: Name used in configuration (defaults to the class name).
    name: ClassVar[str] = ""
    #: Multiplier used when the configuration gives none.
    default_multiplier: ClassVar[float] = 1.0
    #: True for resource weighers whose sign the ``pack`` strategy flips.
    follows_strategy: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__dict__.get("name"):
            cls.name = cls.__name__

    def __init__(self, multiplier: float | None = None) -> None:
        self.multiplier = self.default_multiplier if multiplier is None else multiplier

    def applies(self, spec: RequestSpec, ctx: SchedulingContext) -> bool:
        """False if the weigher has nothing to say about this request (it is skipped)."""
        return True

    @abstractmethod
    def weigh(self, host: HostState, spec: RequestSpec, ctx: SchedulingContext) -> float:
        """Raw weight of ``host`` for ``spec``; bigger is better."""

    def weigh_all(
        self, hosts: Sequence[HostState], spec: RequestSpec, ctx: SchedulingContext
    ) -> list[float]:
        """Raw weights of ``hosts``, in order (override with a comprehension for speed)."""
        weigh = self.weigh
        return [weigh(h, spec, ctx) for h in hosts]


def normalize(values: Sequence[float]) -> list[float]:
    """Rescale ``values`` to 0..1 (min -> 0, max -> 1); all equal -> all 0."""
    if not values:
        return []
    lo, hi = min(values), max(values)
    if hi <= lo:
        return [0.0] * len(values)
    span = hi - lo
    return [(v - lo) / span for v in values]


def combine(
    weighers: Sequence[HostWeigher],
    hosts: Sequence[HostState],
    spec: RequestSpec,
    ctx: SchedulingContext,
) -> list[float]:
    """Total weight per host: sum of ``multiplier * normalised raw weight``."""
    n = len(hosts)
    if n < 2:
        return [0.0] * n
    # (raw values, offset, scale) per weigher whose values differ between hosts; a
    # weigher with equal values everywhere adds the same 0 to every host.
    parts: list[tuple[list[float], float, float]] = []
    for weigher in weighers:
        mult = weigher.multiplier
        if not mult or not weigher.applies(spec, ctx):
            continue
        raw = weigher.weigh_all(hosts, spec, ctx)
        lo, hi = min(raw), max(raw)
        if hi > lo:
            parts.append((raw, lo, mult / (hi - lo)))
    if not parts:
        return [0.0] * n
    # Sum in one pass over the hosts instead of one pass per weigher: the common case
    # is three resource weighers over a few thousand hypervisors.
    (r1, lo1, k1), rest = parts[0], parts[1:]
    if not rest:
        return [(a - lo1) * k1 for a in r1]
    if len(rest) == 1:
        ((r2, lo2, k2),) = rest
        return [(a - lo1) * k1 + (b - lo2) * k2 for a, b in zip(r1, r2, strict=True)]
    (r2, lo2, k2), (r3, lo3, k3) = rest[0], rest[1]
    totals = [
        (a - lo1) * k1 + (b - lo2) * k2 + (c - lo3) * k3 for a, b, c in zip(r1, r2, r3, strict=True)
    ]
    for raw, lo, k in rest[2:]:
        totals = [t + (r - lo) * k for t, r in zip(totals, raw, strict=True)]
    return totals
