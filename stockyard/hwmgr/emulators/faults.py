"""Network faults for BMC tests: endpoints that refuse or never answer."""

from __future__ import annotations

import socket
from types import TracebackType


class BlackholeTCP:
    """A TCP port on 127.0.0.1 that completes the handshake (the kernel backlog does it)
    but never reads or answers, so an HTTP client times out rather than being refused."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(1024)
        self.port: int = self._sock.getsockname()[1]

    def close(self) -> None:
        """Stop listening."""
        self._sock.close()

    def __enter__(self) -> BlackholeTCP:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def closed_tcp_port() -> int:
    """A local TCP port nothing listens on (connections are refused at once)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port the kernel just handed out on 127.0.0.1 (TCP by default)."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
