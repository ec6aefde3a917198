"""Facts about the compute host: can it run KVM guests, which loopback port is free."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path


def kvm_usable(dev: Path = Path("/dev/kvm"), cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """True when KVM guests can run: the device opens read-write and the CPU has VT-x/AMD-V.

    The same two checks as ``virt-host-validate qemu``. A ``/dev/kvm`` that exists without
    CPU support (nested hosts without nesting) is not usable: guests would fail to start.
    """
    if not dev.exists() or not os.access(dev, os.R_OK | os.W_OK):
        return False
    try:
        flags = cpuinfo.read_text()
    except OSError:
        return False
    return any(
        line.startswith("flags") and ({"vmx", "svm"} & set(line.split()))
        for line in flags.splitlines()
    )


def choose_virt_type(requested: str) -> str:
    """``kvm`` or ``qemu`` (TCG) for ``requested`` = ``auto``, ``kvm`` or ``qemu``."""
    if requested not in {"auto", "kvm", "qemu"}:
        raise ValueError(f"virt_type must be auto, kvm or qemu, not {requested!r}")
    if requested == "auto":
        return "kvm" if kvm_usable() else "qemu"
    return requested


def free_loopback_port(exclude: set[int] | frozenset[int] = frozenset()) -> int:
    """A TCP port free on 127.0.0.1 now (the kernel picks it), not in ``exclude``."""
    for _ in range(64):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in exclude:
            return port
    raise OSError("no free loopback port")


def disk_total_gb(path: Path) -> int:
    """Size in GiB of the file system that holds (or will hold) ``path``."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).total // 1024**3
