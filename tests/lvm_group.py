"""A throw-away LVM volume group on a loop device, for the lvm backend's tests.

Needs root and Debian's lvm2 (``scripts/install-libvirt``): off CI a missing one skips
the test, under CI=true it fails. Logical volumes also need the kernel's device-mapper;
a kernel built without it (this lab's micro-VM kernel: no ``CONFIG_BLK_DEV_DM``) cannot
create any, whatever is installed, so tests that need one skip with that reason even
under CI, and the others (capacity, refusals, checks) still run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI") == "true"
_ENV = {**os.environ, "LVM_SUPPRESS_FD_WARNINGS": "1"}


def device_mapper() -> bool:
    """True when the kernel has device-mapper (built in or loaded)."""
    try:
        return "device-mapper" in Path("/proc/misc").read_text()
    except OSError:
        return False


NO_DM = "this kernel has no device-mapper (CONFIG_BLK_DEV_DM): LVM cannot create volumes"


def require_lvm() -> None:
    problems = []
    if os.geteuid() != 0:
        problems.append("not root (loop devices and LVM need root)")
    for tool in ("lvm", "losetup", "dmsetup", "blkdiscard", "qemu-img"):
        if shutil.which(tool) is None:
            problems.append(f"{tool} is not installed (scripts/install-libvirt)")
    if problems:
        if IN_CI:
            pytest.fail("CI=true but " + "; ".join(problems))
        pytest.skip("; ".join(problems))


def _run(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True, env=_ENV).stdout


@contextmanager
def loop_volume_group(size_gb: int = 2) -> Iterator[str]:
    """A new volume group of ``size_gb`` GiB on a sparse file; removed on exit, also on
    failure (its logical volumes with it)."""
    require_lvm()
    name = f"sytest-{uuid.uuid4().hex[:8]}"
    backing = Path("/var/tmp") / f"{name}.img"
    loop = ""
    try:
        with backing.open("wb") as fh:
            fh.truncate(size_gb * 1024**3)
        loop = _run("losetup", "--find", "--show", str(backing)).strip()
        _run("pvcreate", "-q", loop)
        _run("vgcreate", "-q", name, loop)
        yield name
    finally:
        for args in (("vgremove", "-f", "-y", name), ("pvremove", "-q", "-ff", "-y", loop)):
            if loop:
                subprocess.run(args, capture_output=True, env=_ENV)
        if loop:
            subprocess.run(("losetup", "-d", loop), capture_output=True)
        backing.unlink(missing_ok=True)
