"""Scheduling failures that say why, to the user, not only to the admin logs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Rejection:
    """How many hosts one filter rejected, and a short human reason."""

    filter_name: str
    count: int
    reason: str


class NoValidHost(Exception):
    """No host passed every filter for an instance.

    ``rejections`` lists, in filter order, how many of the ``considered`` hosts each
    filter rejected and why; ``str(exc)`` is a complete user-readable sentence, e.g.
    ``No valid host was found. 6000 hosts considered: 5960 rejected by
    AvailabilityZoneFilter (not in az1), 40 by ResourceFilter (not enough RAM).``
    """

    def __init__(
        self,
        considered: int,
        rejections: Sequence[Rejection] = (),
        *,
        subject: str | None = None,
        detail: str | None = None,
    ) -> None:
        self.considered = considered
        self.rejections: tuple[Rejection, ...] = tuple(r for r in rejections if r.count)
        self.subject = subject
        self.detail = detail
        super().__init__(self.message)

    @property
    def counts(self) -> dict[str, int]:
        """Rejected-host count per filter name."""
        out: dict[str, int] = {}
        for r in self.rejections:
            out[r.filter_name] = out.get(r.filter_name, 0) + r.count
        return out

    @property
    def message(self) -> str:
        """The user-visible fault message."""
        head = "No valid host was found"
        if self.subject:
            head += f" for {self.subject}"
        parts = [head + "."]
        if self.detail:
            parts.append(self.detail)
        if self.considered == 0:
            parts.append("There are no hosts.")
        else:
            noun = "host" if self.considered == 1 else "hosts"
            text = f"{self.considered} {noun} considered"
            if self.rejections:
                items = [
                    f"{r.count} {'rejected ' if i == 0 else ''}by {r.filter_name} ({r.reason})"
                    for i, r in enumerate(self.rejections)
                ]
                text += ": " + ", ".join(items)
            parts.append(text + ".")
        return " ".join(parts)

    def __reduce__(self) -> tuple[Any, ...]:
        # Exception pickling replays ``args`` (just the message); rebuild from fields so
        # the fault survives a trip over the message bus intact.
        return (_rebuild, (self.considered, self.rejections, self.subject, self.detail))

    def with_detail(self, detail: str) -> NoValidHost:
        """A copy with ``detail`` (e.g. the group rollback) put before the counts."""
        merged = detail if not self.detail else f"{detail} {self.detail}"
        return NoValidHost(self.considered, self.rejections, subject=self.subject, detail=merged)


def _rebuild(
    considered: int,
    rejections: tuple[Rejection, ...],
    subject: str | None,
    detail: str | None,
) -> NoValidHost:
    return NoValidHost(considered, rejections, subject=subject, detail=detail)
