"""The lab's hwmgr in a process of its own: it serves hwmgr's API, answers commands,
stops when asked, and a child that cannot start says so instead of hanging."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from stockyard.hwmgr.settings import HwmgrSettings
from stockyard.lab.hwmgr_child import HwmgrChild, HwmgrChildError

TOKEN = "lab-token"


def child_settings(data_dir: Path, **more: object) -> HwmgrSettings:
    """A lab hwmgr child's settings (token ``lab-token``), with ``more`` on top."""
    return HwmgrSettings().model_copy(
        update={
            "region": "RegionOne",
            "data_dir": data_dir,
            "database_url": None,
            "port": 0,
            "token": SecretStr(TOKEN),
            "log_level": "WARNING",
            **more,
        }
    )


async def test_the_child_serves_hwmgr_and_stops_when_asked(tmp_path: Path) -> None:
    child = await HwmgrChild.start(child_settings(tmp_path / "hw"), install_seconds=0, host_id="t")
    pid = child._proc.pid
    try:
        async with httpx.AsyncClient(base_url=child.url) as client:
            nodes = await client.get("/v1/nodes", headers={"X-Auth-Token": "lab-token"})
            assert nodes.status_code == 200, nodes.text
            refused = await client.get("/v1/nodes", headers={"X-Auth-Token": "wrong"})
            assert refused.status_code == 401
        await child.resume()  # nothing was left to resume: still answers
        await child.set_installer(never_call_back=True, silent_nodes=["n1"])
    finally:
        await child.stop()
    assert child._proc.returncode == 0
    assert pid not in _processes()
    assert _kept(tmp_path / "hw")  # its database, for the next start


async def test_a_child_that_cannot_start_says_so(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    before = _children()  # other tests' labs may run in this process
    with pytest.raises(HwmgrChildError, match="exited"):
        await HwmgrChild.start(child_settings(blocked / "hw"), install_seconds=0, host_id="t")
    assert _children() <= before  # none left behind


def _processes() -> set[int]:
    return {int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()}


def _kept(data_dir: Path) -> bool:
    return any(data_dir.iterdir())


def _children() -> set[int]:
    """This process's hwmgr children."""
    return {
        int(p.name)
        for p in Path("/proc").iterdir()
        if p.name.isdigit()
        and b"stockyard.lab.hwmgr_child" in _cmdline(p)
        and _parent(p) == os.getpid()
    }


def _cmdline(proc: Path) -> bytes:
    try:
        return (proc / "cmdline").read_bytes()
    except OSError:
        return b""


def _parent(proc: Path) -> int:
    try:
        return int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1
