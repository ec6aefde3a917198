"""Regression: hwmgr froze for good under a burst of IPMI deploys.

pyghmi took its two session locks in both orders (a timed-out wait resends under one,
a send registers its wait under the other), so two BMC threads could deadlock; and the
event loop, breaking a timed-out session, then waited on the same locks forever. Found
by ``bench/bench_baremetal.py --nodes 1000``: every task stopped about two minutes in,
with the loop parked in pyghmi's ``_mark_broken``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

from pydantic import SecretStr
from pyghmi.ipmi.private import session as ipmi_session
from pyghmi.ipmi.private import util as ipmi_util

from stockyard.hwmgr.bmc import BMCCredentials

# The module that drives pyghmi (and puts its locks in order when imported).
from stockyard.hwmgr.bmc.ipmi import IpmiBMC


def test_the_two_session_locks_cannot_be_held_by_two_threads() -> None:
    """The deadlock needed one thread inside each lock at once (then each asked for the
    other's). While one thread holds either, no other thread gets the second one."""
    for first, second in (
        ("WAITING_SESSIONS", "KEEPALIVE_SESSIONS"),
        ("KEEPALIVE_SESSIONS", "WAITING_SESSIONS"),
    ):
        with _held_elsewhere(getattr(ipmi_session, first)):
            other = getattr(ipmi_session, second)
            got = other.acquire(blocking=False)
            if got:
                other.release()
            assert not got, f"{second} was free while another thread held {first}"


@contextmanager
def _held_elsewhere(lock: Any) -> Iterator[threading.Thread]:
    """``lock`` held by another thread (a pyghmi thread waiting on a BMC) meanwhile."""
    has_it, let_go = threading.Event(), threading.Event()

    def hold() -> None:
        with ipmi_util.protect(lock):
            has_it.set()
            let_go.wait(60)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert has_it.wait(30)
        yield holder
    finally:
        let_go.set()
        holder.join(timeout=30)


async def test_a_timed_out_session_is_broken_off_the_event_loop() -> None:
    bmc = IpmiBMC("127.0.0.1", 9, BMCCredentials(username="u", password=SecretStr("p")))
    broken = threading.Event()

    def mark_broken(_reason: str) -> None:
        with ipmi_util.protect(ipmi_session.KEEPALIVE_SESSIONS):  # as pyghmi's does
            broken.set()

    stuck_session = SimpleNamespace(logged=1, logging=True, _mark_broken=mark_broken)
    bmc._cmd = SimpleNamespace(ipmi_session=stuck_session)  # type: ignore[attr-defined]
    # A pyghmi thread holds the session locks (a wait for a BMC that does not answer).
    with _held_elsewhere(ipmi_session.WAITING_SESSIONS) as holder:
        bmc._abandon()  # on the loop: must not wait for pyghmi's locks
        assert not broken.is_set() and holder.is_alive()
        assert bmc._cmd is None  # the retry makes a new Command
    assert await asyncio.to_thread(broken.wait, 30)  # the break ran once the locks were free
    assert stuck_session.logged == 0 and stuck_session.logging is False
