"""Turn the SQLite statement probe on for a benchmark run and print what it found.

``env = sqlprobe.enable(prefix)`` gives the environment a ``stockyard up`` needs for
the probe (``bench/sqlprobe/sitecustomize.py``); after the cloud stopped,
``sqlprobe.report(prefix)`` prints, per process, the statements that held SQLite
longest, with their counts.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

HERE = Path(__file__).resolve().parent / "sqlprobe"


def enable(prefix: Path) -> dict[str, str]:
    """Environment for the cloud's processes: the probe on ``PYTHONPATH``."""
    path = os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH", "")) if p)
    return {"PYTHONPATH": path, "BENCH_SQLPROBE": str(prefix)}


def _role(argv: list[str]) -> str:
    text = " ".join(argv)
    if "hwmgr_child" in text:
        return "hwmgr"
    return "stockyard " + (argv[1] if len(argv) > 1 else "?")


def report(prefix: Path, top: int = 12) -> None:
    """Print each probed process's statements by time held, then the totals."""
    for path in sorted(prefix.parent.glob(f"{prefix.name}.*.json")):
        data = json.loads(path.read_text())
        rows = sorted(data["statements"], key=lambda r: -r["seconds"])
        count = sum(r["count"] for r in rows)
        held = sum(r["seconds"] for r in rows)
        print(f"  SQLite in {_role(data['argv'])}: {count} statements, {held:.1f} s in its thread")
        for r in rows[:top]:
            mean_us = r["seconds"] / r["count"] * 1e6
            print(
                f"    {r['seconds']:7.2f} s {r['count']:7d} x {mean_us:6.0f} us  {r['sql'][:110]}"
            )
