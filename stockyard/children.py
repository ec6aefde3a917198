"""Child processes end with the process that started them, also when it is SIGKILLed.

Linux's parent-death signal (``prctl(PR_SET_PDEATHSIG)``) asks the kernel to signal a
child when its parent dies. Two details make it exact:

- it is set in the child (it does not survive ``fork``, it does survive ``exec``), then
  the child checks ``os.getppid()``: if the parent died before the ``prctl``, the child
  has already been re-parented and exits at once;
- it fires when the parent *thread* that forked the child ends, so children are started
  from the event loop's thread (the main thread in every Stockyard command).

:func:`preexec_die_with_parent` is the ``preexec_fn`` for ``subprocess`` /
``asyncio.create_subprocess_exec`` (it runs between ``fork`` and ``exec``);
:func:`die_with_parent` is called first thing in a child that Python spawns itself
(``multiprocessing``, e.g. ``stockyard api --workers N``). Elsewhere than Linux both
are no-ops.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
from collections.abc import Callable
from functools import cache
from typing import Any

PR_SET_PDEATHSIG = 1


@cache
def _prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None
    fn: Callable[..., int] = libc.prctl
    return fn


def die_with_parent(parent_pid: int, sig: int = signal.SIGKILL) -> None:
    """In a child of ``parent_pid``: receive ``sig`` when the parent dies; if it already
    has, exit now (status 1)."""
    prctl = _prctl()
    if prctl is None:
        return
    prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    if os.getppid() != parent_pid:
        os._exit(1)


def preexec_die_with_parent(sig: int = signal.SIGKILL) -> Callable[[], None] | None:
    """A ``preexec_fn`` that ties the child to this process (``None`` where unsupported).

    Resolved here, before the fork: the child only calls ``prctl`` and ``getppid``.
    """
    prctl = _prctl()
    if prctl is None:
        return None
    parent = os.getpid()
    signum = int(sig)

    def _preexec() -> None:
        prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)

    return _preexec


def child_options() -> dict[str, Any]:
    """Keyword arguments for ``asyncio.create_subprocess_exec`` / ``subprocess.Popen`` so
    that the child ends with this process (SIGKILL on its death)."""
    preexec = preexec_die_with_parent()
    return {} if preexec is None else {"preexec_fn": preexec}
