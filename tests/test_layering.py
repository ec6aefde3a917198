"""The package layering of DESIGN.md, checked on the source: no import cycle between the
top-level packages of ``stockyard``, and the roles' boundaries hold."""

from __future__ import annotations

import ast
import itertools
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "stockyard"


def _graph() -> dict[str, dict[str, set[str]]]:
    """package -> imported package -> the files that import it (absolute imports)."""
    graph: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT)
        if rel.name == "__init__.py" and len(rel.parts) == 1:
            continue
        # A top-level module (settings.py, failure_domains.py) is a node of its own.
        package = rel.parts[0] if len(rel.parts) > 1 else rel.stem
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                parts = name.split(".")
                if parts[0] == "stockyard" and len(parts) > 1 and parts[1] != package:
                    graph[package][parts[1]].add(str(rel))
    return graph


def _cycle_from(graph: dict[str, dict[str, set[str]]], start: str) -> list[str] | None:
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        node, path = stack.pop()
        for nxt in graph.get(node, {}):
            if nxt == start:
                return [*path, start]
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, [*path, nxt]))
    return None


def test_no_import_cycle_between_packages() -> None:
    graph = _graph()
    cycles = []
    for package in sorted(graph):
        cycle = _cycle_from(graph, package)
        if cycle:
            where = {f"{a}->{b}": sorted(graph[a][b])[:2] for a, b in itertools.pairwise(cycle)}
            cycles.append(f"{' -> '.join(cycle)} via {where}")
    assert not cycles, "\n".join(cycles)


def _imports(package: str) -> set[str]:
    return set(_graph().get(package, {}))


def test_role_boundaries() -> None:
    # The scheduler is a pure in-memory engine: no database, no bus, no HTTP.
    assert not _imports("scheduler"), _imports("scheduler")
    # Leaves: settings and the process helpers import no other part of Stockyard.
    for leaf in ("settings", "extras", "children"):
        assert not _imports(leaf), (leaf, _imports(leaf))
    # The API never calls a driver, the conductor or the placement flow: it writes
    # desired state through the lifecycle and sends hints.
    assert not _imports("api") & {"compute", "conductor", "placement", "scheduler", "hwmgr"}
    # Agents hold no database credentials and know nothing of the workers' flows.
    assert not _imports("compute") & {"db", "conductor", "placement", "lifecycle", "api"}
    # hwmgr is its own service and knows nothing of instances.
    assert not _imports("hwmgr") & {"api", "conductor", "placement", "lifecycle", "compute"}
    # The data layer knows no flows and no HTTP.
    assert not _imports("db") & {"api", "conductor", "placement", "lifecycle", "scheduler"}
    # The dashboard is a client of the public APIs only: nothing of Stockyard inside.
    assert not _imports("dashboard"), _imports("dashboard")


def test_the_cycle_finder_finds_cycles() -> None:
    graph: dict[str, dict[str, set[str]]] = {
        "a": {"b": {"a/x.py"}},
        "b": {"c": {"b/y.py"}},
        "c": {"a": {"c/z.py"}},
        "d": {"a": {"d/w.py"}},
    }
    assert _cycle_from(graph, "a") == ["a", "b", "c", "a"]
    assert _cycle_from(graph, "d") is None
