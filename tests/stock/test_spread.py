"""The node picker: round-robin over the fullest racks, shortfalls named."""

from __future__ import annotations

import pytest

from stockyard.stock import StockConflict
from stockyard.stock.spread import Candidate, pick_nodes


def _nodes(layout: dict[str, int]) -> list[Candidate]:
    out, i = [], 0
    for rack, n in layout.items():
        for k in range(n):
            out.append(Candidate(i, f"u{i}", f"{rack}-{k}", rack))
            i += 1
    return out


def _racks(chosen: list[Candidate]) -> list[str]:
    return sorted(c.rack for c in chosen)


def test_round_robin_starts_with_fullest_racks() -> None:
    chosen = pick_nodes(_nodes({"a": 1, "b": 3, "c": 2}), 2, None, resource_class="X", az="z")
    assert _racks(chosen) == ["b", "c"]
    chosen = pick_nodes(_nodes({"a": 1, "b": 3, "c": 2}), 5, 3, resource_class="X", az="z")
    assert _racks(chosen) == ["a", "b", "b", "c", "c"]


def test_shortfalls_are_named() -> None:
    with pytest.raises(StockConflict, match="only 2 racks in z have free X nodes, 3 requested"):
        pick_nodes(_nodes({"a": 2, "b": 2}), 3, 3, resource_class="X", az="z")
    with pytest.raises(StockConflict, match="only 4 free X nodes in z, 5 requested"):
        pick_nodes(_nodes({"a": 2, "b": 2}), 5, None, resource_class="X", az="z")
