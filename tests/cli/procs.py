"""Process helpers for the CLI tests: real ``stockyard`` processes, found through /proc."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx

VENV_BIN = Path(sys.executable).parent
STOCKYARD = str(VENV_BIN / "stockyard")
MARK = "STOCKYARD_TEST_PROCESS_MARK"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    return raw.rsplit(")", 1)[1].split()


@dataclass(frozen=True)
class Proc:
    """A process as /proc saw it: pid plus start time, so a reused pid is not it."""

    pid: int
    start: str

    def alive(self) -> bool:
        fields = _stat(self.pid)
        # fields[0] = state, fields[19] = starttime; a zombie has ended.
        return fields is not None and fields[19] == self.start and fields[0] not in "ZX"


def proc(pid: int) -> Proc | None:
    fields = _stat(pid)
    return None if fields is None else Proc(pid, fields[19])


def descendants(pid: int) -> set[Proc]:
    """Every live process below ``pid`` (children, their children...)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None and fields[0] not in "ZX":
                parents.setdefault(int(fields[1]), []).append(int(entry.name))
    found: set[Proc] = set()
    todo = [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            p = proc(child)
            if p is not None:
                found.add(p)
                todo.append(child)
    return found


def marked(mark: str) -> set[Proc]:
    """Live processes whose environment carries ``MARK=mark`` (inherited by children)."""
    needle = f"{MARK}={mark}".encode()
    found: set[Proc] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            env = (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in env.split(b"\0"):
            p = proc(int(entry.name))
            if p is not None and p.alive():
                found.add(p)
    return found


def wait_gone(procs: set[Proc], deadline_s: float = 30.0) -> set[Proc]:
    """Wait (up to a deadline) for ``procs`` to end; the ones still alive."""
    deadline = time.monotonic() + deadline_s
    while True:
        left = {p for p in procs if p.alive()}
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def env_for(data_dir: Path, port: int, mark: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOCKYARD_")}
    env.update(
        STOCKYARD_API_PORT=str(port),
        STOCKYARD_DATA_DIR=str(data_dir),
        **{MARK: mark},
        **extra,
    )
    return env


@dataclass
class Up:
    """A running ``stockyard up`` (or ``stockyard api``) subprocess."""

    proc: subprocess.Popen[bytes]
    port: int
    data_dir: Path
    log_path: Path
    mark: str = field(default_factory=lambda: uuid.uuid4().hex)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        left = wait_gone(marked(self.mark), 10)
        for p in left:  # never leave anything behind, whatever the test found
            try:
                os.kill(p.pid, 9)
            except ProcessLookupError:
                pass


def start(tmp: Path, args: list[str], *, data_dir: Path | None = None, name: str = "up") -> Up:
    """Start ``stockyard <args>`` on a free port and wait until ``/healthz`` answers."""
    port = free_port()
    data_dir = data_dir or tmp / f"{name}-data"
    log_path = tmp / f"{name}.log"
    mark = uuid.uuid4().hex
    with log_path.open("wb") as log:
        p = subprocess.Popen(
            [STOCKYARD, *args],
            env=env_for(data_dir, port, mark),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=tmp,
        )
    up = Up(p, port, data_dir, log_path, mark)
    deadline = time.monotonic() + 120
    while True:
        if p.poll() is not None:
            raise AssertionError(f"stockyard {args} exited {p.returncode}:\n{up.log()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return up
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            up.stop()
            raise AssertionError(f"stockyard {args} did not answer:\n{up.log()}")
        time.sleep(0.2)
