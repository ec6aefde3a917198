"""IPMI 2.0 (RMCP+) BMC emulators: ``pyghmi.ipmi.bmc.Bmc`` endpoints on UDP ports.

pyghmi's server only does cipher suite 3 (SHA-1) but answers "success" to a client that
asks for SHA-256; pyghmi's own client then trusts its request and crashes. The session
class below answers status 0x11 ("no cipher suite match") to algorithms it does not
implement, so clients (pyghmi, ipmitool) fall back to suite 3. It also keeps a client's
re-login to one endpoint from dropping that client's sessions with all the others.

pyghmi keeps one module-level session loop per process, shared by servers and clients;
with a server and several client threads in one process, client threads end up
processing server packets and stall (measured here: 12 threads hang). So the endpoints
live in one helper process (``IpmiEmulator`` starts it; ``serve_forever`` runs in it),
served from one thread there, and the client process stays a pure client.
"""

from __future__ import annotations

import secrets
import socket
import threading
import uuid as uuidlib
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import SecretStr
from pyghmi.ipmi import bmc as pyghmi_bmc
from pyghmi.ipmi.private import serversession
from pyghmi.ipmi.private import session as ipmisession

_AUTH_SHA1, _INTEGRITY_SHA1_96, _CONF_NONE, _CONF_AES = 1, 1, 0, 1
_NO_CIPHER_MATCH = 0x11


class _SHA1OnlySession(serversession.ServerSession):  # type: ignore[misc]
    """A server session that refuses the algorithms pyghmi's server cannot do."""

    def create_open_session_response(self, request: Any) -> Any:
        req = bytearray(request)
        auth, integrity, conf = req[12], req[20], req[28]
        if (
            auth != _AUTH_SHA1
            or integrity != _INTEGRITY_SHA1_96
            or conf not in (_CONF_NONE, _CONF_AES)
        ):
            return bytearray([req[0], _NO_CIPHER_MATCH, 0, 0]) + req[4:8]
        return super().create_open_session_response(request)

    def _handle_ipmi_packet(self, data: Any, sockaddr: Any = None, qent: Any = None) -> Any:
        if getattr(self.bmc, "unresponsive", False):
            return None
        if qent is not None and _is_sessionless_v15(data):
            # The client logs in again (a session-less "get channel auth" from a client
            # address that still has a session here). pyghmi's server then deletes
            # ``bmc_handlers[client]``, i.e. this client's sessions with *every*
            # endpoint of the process: a client that multiplexes many BMCs over one UDP
            # socket (pyghmi does) loses its other sessions mid-command and times out.
            # Drop only this endpoint's session and hand the packet to the server.
            handlers = ipmisession.Session.bmc_handlers.get(sockaddr)
            if handlers is not None and handlers.get(self.bmc.port) is self:
                del handlers[self.bmc.port]
                if not handlers:
                    del ipmisession.Session.bmc_handlers[sockaddr]
            server = ipmisession.Session.bmc_handlers.get(qent[2], {}).get(0)
            if server is not None:
                server.pktqueue.append(qent)
                server.process_pktqueue()
            return None
        return super()._handle_ipmi_packet(data, sockaddr, qent)


def _is_sessionless_v15(data: Any) -> bool:
    """An IPMI 1.5 packet with sequence number and session id 0 (no session)."""
    raw = bytes(data)
    return len(raw) >= 13 and raw[4] in (0, 2) and raw[5:13] == bytes(8)


@dataclass
class IpmiNodeSpec:
    """One emulated server's IPMI BMC; ``refuse`` makes it reject the advertised
    password, ``unresponsive`` makes it drop every packet."""

    name: str
    power_state: Literal["on", "off"] = "off"
    username: str = "admin"
    password: SecretStr = field(default_factory=lambda: SecretStr(secrets.token_urlsafe(10)))
    unresponsive: bool = False
    refuse: bool = False


class EmulatedBmc(pyghmi_bmc.Bmc):  # type: ignore[misc]
    """An IPMI endpoint holding a power state and the next-boot device."""

    def __init__(self, spec: IpmiNodeSpec, port: int, address: str = "127.0.0.1") -> None:
        password = spec.password.get_secret_value()
        if spec.refuse:
            password = secrets.token_urlsafe(12)  # not what the operator was given
        super().__init__({spec.username: password}, port=port, address=address)
        self.spec = spec
        self.name = spec.name
        self.unresponsive = spec.unresponsive
        self.power: Literal["on", "off"] = spec.power_state
        self.bootdev = "default"
        self.boot_persistent = False
        self.last_boot: str | None = None
        self.calls: list[str] = []
        self._lock = threading.Lock()

    def sessionless_data(self, data: Any, sockaddr: Any) -> None:
        if self.unresponsive:
            return
        raw = bytearray(data)
        if len(raw) >= 22 and raw[0] == 6 and raw[2:4] == b"\xff\x07":
            if raw[4] == 6 and raw[5] == 16:  # RMCP+ open session request
                _SHA1OnlySession(
                    self.authdata,
                    self.kg,
                    sockaddr,
                    self.serversocket,
                    raw[16:],
                    self.uuid,
                    bmc=self,
                )
                return
        super().sessionless_data(data, sockaddr)

    def get_system_guid(self) -> uuidlib.UUID:
        return self.uuid  # type: ignore[no-any-return]

    def get_power_state(self) -> str:
        return self.power

    def _record(self, call: str, state: Literal["on", "off"], boots: bool) -> int:
        with self._lock:
            self.calls.append(call)
            self.power = state
            if boots:  # a boot consumes a one-time boot device
                self.last_boot = self.bootdev
                if not self.boot_persistent:
                    self.bootdev = "default"
        return 0

    def power_on(self) -> int:
        return self._record("on", "on", boots=self.power == "off")

    def power_off(self) -> int:
        return self._record("off", "off", boots=False)

    def power_shutdown(self) -> int:
        return self._record("shutdown", "off", boots=False)

    def power_reset(self) -> int:
        return self._record("reset", "on", boots=True)

    def power_cycle(self) -> int:
        return self._record("cycle", "on", boots=True)

    def get_boot_device(self) -> str:
        return self.bootdev

    def set_boot_device(self, bootdevice: str) -> None:
        self.bootdev = bootdevice

    def set_system_boot_options(self, request: Any, session: Any) -> Any:
        data = request["data"]
        if data and data[0] == 5 and len(data) > 1:
            self.boot_persistent = bool(data[1] & 0x40)
        with self._lock:
            self.calls.append(f"bootopt{data[0] if data else '?'}")
        return super().set_system_boot_options(request, session)

    def close(self) -> None:
        """Stop answering: unregister and close the UDP socket."""
        sock = self.serversocket
        ipmisession.Session.bmc_handlers.pop(sock, None)
        if sock in ipmisession.iosockets:
            ipmisession.iosockets.remove(sock)
        sock.close()


def bind_endpoint(spec: IpmiNodeSpec, address: str = "127.0.0.1") -> EmulatedBmc:
    """An endpoint for ``spec`` on a free UDP port (retried if another process wins it)."""
    last: OSError | None = None
    for _ in range(5):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind((address, 0))
            port = probe.getsockname()[1]
        try:
            return EmulatedBmc(spec, port, address)
        except OSError as exc:
            last = exc
    raise RuntimeError(f"could not bind an IPMI endpoint for {spec.name}: {last}")


def serve(stop: threading.Event) -> None:
    """Run pyghmi's session loop (answers every endpoint of this process) until ``stop``."""
    while not stop.is_set():
        ipmisession.Session.wait_for_rsp(0.2)
