"""SQLite statement probe for benchmarks (``bench/sqlprobe.py`` turns it on).

Python imports ``sitecustomize`` at start-up from ``PYTHONPATH``: with
``BENCH_SQLPROBE=<prefix>`` set, every Stockyard process of a run (``stockyard up``,
the hwmgr child) counts its SQLite statements, by statement text with the parameter
lists folded, and the time each spent in the connection's thread. At exit the process
writes ``<prefix>.<pid>.json``. Without the variable it does nothing.

The time is the thread's wall time, so it includes waits for the GIL: read the counts
as exact and the times as where the single writer was held.
"""

from __future__ import annotations

import os

if os.environ.get("BENCH_SQLPROBE"):
    import atexit
    import json
    import re
    import sys
    import threading
    import time
    from typing import Any

    from stockyard.db import sqlite_onetrip

    _stats: dict[str, list[float]] = {}
    _guard = threading.Lock()
    _IN_LIST = re.compile(r"\((?:\?|__\[POSTCOMPILE_\w+\])(?:, ?\?)*\)")

    def _key(operation: str) -> str:
        return " ".join(_IN_LIST.sub("(?...)", operation).split())

    def _timed(inner: Any) -> Any:
        def run(conn: Any, operation: str, parameters: Any) -> Any:
            start = time.perf_counter()
            try:
                return inner(conn, operation, parameters)
            finally:
                spent = time.perf_counter() - start
                with _guard:
                    entry = _stats.setdefault(_key(operation), [0, 0.0])
                    entry[0] += 1
                    entry[1] += spent

        return run

    sqlite_onetrip._run = _timed(sqlite_onetrip._run)
    sqlite_onetrip._run_many = _timed(sqlite_onetrip._run_many)

    def _dump() -> None:
        if not _stats:
            return
        path = f"{os.environ['BENCH_SQLPROBE']}.{os.getpid()}.json"
        with _guard:
            rows = [{"sql": k, "count": int(v[0]), "seconds": v[1]} for k, v in _stats.items()]
        with open(path, "w") as out:
            json.dump({"argv": sys.argv, "statements": rows}, out)

    atexit.register(_dump)
