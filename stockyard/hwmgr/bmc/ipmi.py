"""IPMI BMC driver (pyghmi ``Command``), run on the BMC thread pool.

pyghmi drives every session of the process from one shared loop and keeps a logged-in
session per (BMC, user, password) that new ``Command`` objects reuse. Different BMCs
run concurrently from different threads; calls to one BMC are serialised by a lock per
endpoint (a BMC handles one request at a time anyway), and ``aclose`` logs out.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from pyghmi import exceptions as pyghmi_exc
from pyghmi.ipmi import command as ipmi_command
from pyghmi.ipmi.private import session as ipmi_session

from stockyard.hwmgr.bmc.base import (
    BMC,
    BMCConnectionError,
    BMCCredentials,
    BMCFatalError,
    BMCPower,
    RetryPolicy,
    run_blocking,
)

T = TypeVar("T")

# pyghmi guards its sessions with two module locks and takes them in both orders: a wait
# that times out resends under WAITING_SESSIONS (the send takes KEEPALIVE_SESSIONS), and
# a send holds KEEPALIVE_SESSIONS while it registers its wait (WAITING_SESSIONS). Two
# threads meeting there deadlock, and every IPMI call of the process after them: measured,
# bench_baremetal at 1,000 nodes froze hwmgr for good about two minutes in, once BMC
# calls had started to time out. One reentrant lock for both leaves no order to get
# wrong. (pyghmi looks the names up at each use, so rebinding them here is enough.)
ipmi_session.KEEPALIVE_SESSIONS = ipmi_session.WAITING_SESSIONS

# Breaking a timed-out session takes pyghmi's locks, which a thread stuck in pyghmi may
# hold for a while: never on the event loop.
_BREAKER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ipmi-break")

_ENDPOINT_LOCKS: dict[tuple[str, int], threading.Lock] = {}
_ENDPOINT_LOCKS_GUARD = threading.Lock()

# pyghmi reports everything as IpmiException text; these mean "the BMC said no".
_FATAL_MARKERS = (
    "password",
    "unauthorized",
    "invalid user",
    "privilege",
    "not supported",
    "invalid command",
    "unknown power state",
    "no cipher suite",
)


def _endpoint_lock(address: str, port: int) -> threading.Lock:
    with _ENDPOINT_LOCKS_GUARD:
        lock = _ENDPOINT_LOCKS.get((address, port))
        if lock is None:
            lock = _ENDPOINT_LOCKS[(address, port)] = threading.Lock()
        return lock


def _break_session(session: Any) -> None:
    # pyghmi's _mark_broken logs out first, and its logout waits for the stuck command
    # to end; clearing the login flags first makes it skip that (the BMC expires the
    # session itself) and only drop pyghmi's bookkeeping, without blocking.
    try:
        session.logged = 0
        session.logging = False
        session._mark_broken("abandoned after a timeout")
    except Exception:  # best effort on a session that is failing anyway
        pass


class IpmiBMC(BMC):
    """A server's BMC over IPMI 2.0 (RMCP+, ``lanplus``); ``system_id`` is unused."""

    driver = "IPMI"

    def __init__(
        self,
        address: str,
        port: int,
        credentials: BMCCredentials,
        system_id: str | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        super().__init__(address, port, credentials, system_id, retry)
        self._cmd: Any = None
        self._lock = _endpoint_lock(address, port)

    def _command(self) -> Any:
        session = getattr(self._cmd, "ipmi_session", None)
        if session is None or session.broken or not session.logged:
            # Bytes, not str: pyghmi files a logging-in session under the caller's
            # (bmc, user, password) but removes it under the encoded bytes; with str the
            # stale entry outlives a logout and the next Command gets a dead session.
            self._cmd = ipmi_command.Command(
                bmc=self.address,
                userid=self.credentials.username.encode(),
                password=self.credentials.password.get_secret_value().encode(),
                port=self.port,
            )
        return self._cmd

    def _run(self, action: Callable[[Any], T]) -> T:
        # Bounded like the call itself: once the caller has timed out, a thread still
        # queued here must not send its power command late, behind the caller's back.
        if not self._lock.acquire(timeout=self.retry.call_timeout):
            raise BMCConnectionError(f"{self.label} is busy with a call that does not end")
        try:
            try:
                return action(self._command())
            except pyghmi_exc.PyghmiException as exc:
                self._cmd = None
                text = str(exc) or type(exc).__name__
                unsupported = (
                    pyghmi_exc.UnsupportedFunctionality,
                    pyghmi_exc.InvalidParameterValue,
                )
                if isinstance(exc, unsupported) or any(
                    marker in text.lower() for marker in _FATAL_MARKERS
                ):
                    raise BMCFatalError(f"{self.label} refused: {text}") from exc
                if text in ("None", "Session no longer connected", "timeout"):
                    text = "no reply (timed out)"
                raise BMCConnectionError(f"{self.label} did not answer: {text}") from exc
            except (OSError, AssertionError) as exc:
                self._cmd = None
                raise BMCConnectionError(f"{self.label} unreachable: {exc}") from exc
        finally:
            self._lock.release()

    def _power_state(self) -> BMCPower:
        state = self._run(lambda cmd: cmd.get_power()["powerstate"])
        return "on" if state == "on" else "off"

    def _power_on(self) -> None:
        self._run(lambda cmd: cmd.set_power("on"))

    def _power_off(self) -> None:
        self._run(lambda cmd: cmd.set_power("off"))

    def _power_cycle(self) -> None:
        # "boot" is pyghmi's "reset if on, power on if off", in one locked call.
        self._run(lambda cmd: cmd.set_power("boot"))

    def _set_boot_pxe_once(self) -> None:
        self._run(lambda cmd: cmd.set_bootdev("network", persist=False))

    def _abandon(self) -> None:
        # A timed-out call's thread sits in pyghmi's wait loop (pyghmi's own give-up can
        # take a minute) holding the endpoint lock, and a new Command would get the same
        # cached session back. Marking the session broken ends that loop at its next
        # wake-up, so the thread lets go of the lock and the retry logs in afresh.
        session = getattr(self._cmd, "ipmi_session", None)
        if session is None:  # stuck while logging in: the session is not ours yet
            key = (
                self.address,
                self.credentials.username.encode(),
                self.credentials.password.get_secret_value().encode(),
                self.port,
                None,
            )
            session = ipmi_session.Session.initting_sessions.get(key)
        self._cmd = None
        if session is not None:
            _BREAKER.submit(_break_session, session)

    def _logout(self) -> None:
        with self._lock:
            cmd, self._cmd = self._cmd, None
            session = getattr(cmd, "ipmi_session", None)
            if session is not None and session.logged:
                session.logout()

    async def aclose(self) -> None:
        """Log the IPMI session out (the BMC has few session slots)."""
        if self._cmd is not None:
            await run_blocking(self._logout)
