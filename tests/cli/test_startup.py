"""The start checks without a cloud: missing drivers, the data-dir lock, parent death."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from stockyard.cli.startup import StartupError, hold_data_dir
from tests.cli.procs import env_for, free_port, marked, proc, wait_gone

# Runs the real CLI with the named modules made unimportable, as if the ``prod`` extra
# were not installed.
_WITHOUT = (
    "import sys\n"
    "for name in sys.argv[1].split(','):\n"
    "    sys.modules[name] = None\n"
    "from stockyard.cli.main import app\n"
    "sys.argv = ['stockyard', *sys.argv[2:]]\n"
    "app()\n"
)


@pytest.mark.parametrize(
    ("variable", "url", "missing", "command"),
    [
        ("STOCKYARD_DATABASE_URL", "postgresql+asyncpg://u:pw@127.0.0.1/x", "asyncpg", "up"),
        ("STOCKYARD_DATABASE_URL", "mysql+aiomysql://u:pw@127.0.0.1/x", "aiomysql", "up"),
        ("STOCKYARD_BUS_URL", "amqp://u:pw@127.0.0.1/", "aio_pika", "up"),
        ("STOCKYARD_DATABASE_URL", "postgresql+asyncpg://u:pw@127.0.0.1/x", "asyncpg", "api"),
        ("STOCKYARD_DATABASE_URL", "postgresql+asyncpg://u:pw@127.0.0.1/x", "asyncpg", "db"),
        ("STOCKYARD_BUS_URL", "amqp://u:pw@127.0.0.1/", "aio_pika", "scheduler"),
    ],
)
def test_missing_driver_is_one_line_naming_the_extra(
    tmp_path: Path, variable: str, url: str, missing: str, command: str
) -> None:
    data_dir = tmp_path / "data"
    mark = uuid.uuid4().hex
    env = env_for(data_dir, free_port(), mark, **{variable: url})
    args = {"db": ["db", "upgrade"], "api": ["api", "--workers", "2"]}.get(command, [command])
    done = subprocess.run(
        [sys.executable, "-c", _WITHOUT, missing, *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert missing in lines[0] and "pip install 'stockyard[prod]'" in lines[0]
    assert url.split("://")[0] in lines[0] and "pw" not in lines[0]  # no credentials
    if command == "up":
        assert not data_dir.exists()  # refused before touching the data directory
    assert wait_gone(marked(mark)) == set()


def test_data_dir_lock_is_exclusive_and_names_the_holder(tmp_path: Path) -> None:
    held = hold_data_dir(tmp_path / "data")
    try:
        with pytest.raises(StartupError) as refused:
            hold_data_dir(tmp_path / "data")
        message = str(refused.value)
        assert str((tmp_path / "data").resolve()) in message
        assert f"pid {os.getpid()}" in message
    finally:
        held.release()
    hold_data_dir(tmp_path / "data").release()


_PARENT = (
    "import subprocess, sys, time\n"
    "from stockyard.children import child_options\n"
    "child = subprocess.Popen(['sleep', '600'], **child_options())\n"
    "print(child.pid, flush=True)\n"
    "time.sleep(600)\n"
)


def test_child_options_child_dies_with_a_sigkilled_parent() -> None:
    parent = subprocess.Popen([sys.executable, "-c", _PARENT], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        child = proc(int(parent.stdout.readline()))
        assert child is not None and child.alive()
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    assert wait_gone({child}) == set()


def test_die_with_parent_exits_when_the_parent_is_already_gone() -> None:
    # The race it closes: the parent died before the child asked for the signal.
    code = (
        "import os, sys\n"
        "from stockyard.children import die_with_parent\n"
        "die_with_parent(os.getppid() + 1 if os.getppid() != 1 else 2)\n"
        "print('survived')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "survived" not in done.stdout, done
