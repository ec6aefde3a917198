"""Choosing nodes for a stock request: round-robin over racks, fullest racks first."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from stockyard.stock.errors import StockConflict


@dataclass(frozen=True)
class Candidate:
    """A free, unassigned, enabled node that could go to the request."""

    id: int
    uuid: str
    name: str
    rack: str


def pick_nodes(
    candidates: Sequence[Candidate],
    count: int,
    min_racks: int | None,
    *,
    resource_class: str,
    az: str,
) -> list[Candidate]:
    """``count`` nodes spread over at least ``min_racks`` racks, or ``StockConflict``.

    Racks are visited round-robin, the ones with the most free nodes first, so the spread
    is as even as the free capacity allows and the request lands on ``min(count, racks)``
    racks at least. Ties break on rack then node name, so the choice is deterministic.
    """
    by_rack: dict[str, list[Candidate]] = {}
    for cand in sorted(candidates, key=lambda c: (c.rack, c.name)):
        by_rack.setdefault(cand.rack, []).append(cand)
    racks_wanted = min_racks or 1
    if len(candidates) < count:
        raise StockConflict(
            f"only {len(candidates)} free {resource_class} nodes in {az}, {count} requested"
        )
    if len(by_rack) < racks_wanted:
        raise StockConflict(
            f"only {len(by_rack)} racks in {az} have free {resource_class} nodes, "
            f"{racks_wanted} requested"
        )
    order = sorted(by_rack, key=lambda r: (-len(by_rack[r]), r))
    queues = [list(by_rack[r]) for r in order]
    chosen: list[Candidate] = []
    while len(chosen) < count:
        for queue in queues:
            if queue and len(chosen) < count:
                chosen.append(queue.pop(0))
    return chosen
