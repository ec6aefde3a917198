"""``py-spy record`` of a benchmark's ``stockyard up`` process (``pip install py-spy``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent


def start_profile(profile: Path | None, pid: int, tag: str) -> subprocess.Popen[bytes] | None:
    """Sample ``pid`` into ``profile`` (raw folded stacks; ``.json``: speedscope) until
    :func:`stop_profile`; None when not asked for or py-spy is not installed.

    Threads parked in C calls (aiosqlite's queue, pyghmi's condition waits) show as
    busy: read their leaf frames as idle. (``--gil`` would hide them but drops most
    samples of a loaded process: 752 where 1,300 were due.)"""
    if profile is None:
        return None
    spy = BIN / "py-spy"
    if not spy.exists():
        print("  (py-spy not installed: pip install py-spy; no profile)")
        return None
    out = profile.with_name(f"{profile.stem}-{tag}{profile.suffix or '.txt'}")
    fmt = "speedscope" if out.suffix == ".json" else "raw"
    cmd = [str(spy), "record", "--pid", str(pid), "--format", fmt, "--output", str(out)]
    print(f"  profiling into {out}")
    if os.environ.get("BENCH_PROFILE_CHILDREN") == "1":
        # hwmgr, the BMC emulators: children of ``stockyard up``; each stack names its pid.
        cmd.append("--subprocesses")
    return subprocess.Popen(
        [*cmd, "--rate", os.environ.get("BENCH_PROFILE_RATE", "100"), "--nonblocking"],
        stdout=subprocess.DEVNULL,
    )


def stop_profile(spy: subprocess.Popen[bytes] | None) -> None:
    """Stop sampling: py-spy writes its output on SIGINT."""
    if spy is not None:
        spy.send_signal(signal.SIGINT)
        spy.wait(timeout=120)
