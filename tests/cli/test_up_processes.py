"""``stockyard up`` / ``stockyard api`` and their child processes, as real processes.

A start that is refused (busy port, data directory held by another ``up``) leaves no
process behind; a ``kill -9`` of the parent ends every child (BMC emulators, API workers).
"""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.procs import (
    STOCKYARD,
    Up,
    descendants,
    env_for,
    free_port,
    marked,
    start,
    wait_gone,
)


@pytest.fixture
def first_up(tmp_path: Path) -> Iterator[Up]:
    up = start(tmp_path, ["up"], name="first")
    yield up
    up.stop()


def _run(tmp: Path, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # The timeout only keeps a broken start from hanging the suite.
    return subprocess.run(
        [STOCKYARD, *args], env=env, cwd=tmp, capture_output=True, text=True, timeout=120
    )


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_second_up_on_a_busy_port_fails_and_leaves_no_process(first_up: Up, tmp_path: Path) -> None:
    mark = uuid.uuid4().hex
    second = _run(tmp_path, ["up"], env_for(tmp_path / "second-data", first_up.port, mark))
    assert second.returncode == 1, second.stderr
    line = _one_line(second.stderr)
    assert f"127.0.0.1:{first_up.port}" in line and "in use" in line
    assert wait_gone(marked(mark)) == set()
    # The first one is untouched.
    assert first_up.proc.poll() is None


def test_second_up_on_a_held_data_dir_refuses_before_touching_it(
    first_up: Up, tmp_path: Path
) -> None:
    before = {p: p.stat().st_mtime_ns for p in first_up.data_dir.rglob("*") if p.is_file()}
    mark = uuid.uuid4().hex
    second = _run(tmp_path, ["up"], env_for(first_up.data_dir, free_port(), mark))
    assert second.returncode == 1, second.stderr
    line = _one_line(second.stderr)
    assert str(first_up.data_dir.resolve()) in line
    assert f"pid {first_up.proc.pid}" in line
    assert wait_gone(marked(mark)) == set()
    # The lock file still names the first; the second wrote nothing to the directory
    # (files the first one is writing itself may change; none may appear or vanish).
    lock = first_up.data_dir / "stockyard.lock"
    assert lock.read_text().strip() == str(first_up.proc.pid)
    assert before[lock] == lock.stat().st_mtime_ns
    assert set(before) <= {p for p in first_up.data_dir.rglob("*") if p.is_file()}
    assert first_up.proc.poll() is None


def test_kill_9_of_up_ends_all_its_children(tmp_path: Path) -> None:
    up = start(tmp_path, ["up"], name="killed")
    try:
        children = descendants(up.proc.pid)
        # The default lab's baremetal runs the Redfish and IPMI BMC emulators.
        names = {Path(f"/proc/{c.pid}/cmdline").read_bytes() for c in children}
        assert any(b"_sushy_run" in n for n in names), names
        assert any(b"_ipmi_run" in n for n in names), names
        os.kill(up.proc.pid, signal.SIGKILL)
        up.proc.wait()
        assert wait_gone(children) == set()
        assert wait_gone(marked(up.mark)) == set()
    finally:
        up.stop()
    # The lock died with the process: a new start on the same data dir is accepted.
    again = start(tmp_path, ["up"], data_dir=up.data_dir, name="again")
    again.stop()


def test_kill_9_of_api_ends_its_workers(tmp_path: Path) -> None:
    data_dir = tmp_path / "api-data"
    mark = uuid.uuid4().hex
    schema = _run(tmp_path, ["db", "upgrade", "--schema-only"], env_for(data_dir, 0, mark))
    assert schema.returncode == 0, schema.stderr
    api = start(tmp_path, ["api", "--workers", "2"], data_dir=data_dir, name="api")
    try:
        children = descendants(api.proc.pid)
        workers = [
            c for c in children if b"spawn_main" in Path(f"/proc/{c.pid}/cmdline").read_bytes()
        ]
        assert len(workers) == 2, children
        os.kill(api.proc.pid, signal.SIGKILL)
        api.proc.wait()
        assert wait_gone(children) == set()
        assert wait_gone(marked(api.mark)) == set()
    finally:
        api.stop()
