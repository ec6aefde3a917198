"""What a command checks and takes before it starts anything, so that a start that cannot
succeed stops at once with one line (:class:`StartupError`, :class:`MissingExtra`):

- :func:`check_drivers`: the drivers the database and bus URLs name are installed;
- :func:`check_database_schema`: the database's schema is the one this code knows (roles
  do not migrate; ``stockyard db upgrade`` does, and ``stockyard up`` runs it itself);
- :func:`hold_data_dir`: an exclusive ``flock`` on ``<data_dir>/stockyard.lock`` for the
  life of the process (a second ``stockyard up`` on the same data directory refuses);
- :func:`bind_api_socket`: the API's listening socket, bound before any child process or
  database is started (a busy port refuses).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
from pathlib import Path

from stockyard.extras import driver_import, url_scheme
from stockyard.settings import Settings

LOCK_NAME = "stockyard.lock"


class StartupError(RuntimeError):
    """A start refused before anything was started; the message is one line."""


def check_drivers(settings: Settings, *, database: bool = True, bus: bool = True) -> None:
    """Import the drivers of ``database_url`` and ``bus_url``; ``MissingExtra`` if one is
    not installed (e.g. ``pip install stockyard`` without the ``prod`` extra)."""
    if database:
        from sqlalchemy.engine import make_url

        url = settings.effective_database_url
        with driver_import(f"database_url {url_scheme(url)}"):
            make_url(url).get_dialect().import_dbapi()
    if bus:
        from stockyard.bus.factory import make_bus

        try:
            make_bus(settings.bus_url)  # builds, does not connect
        except ValueError as exc:
            raise StartupError(str(exc)) from exc


def check_database_schema(settings: Settings) -> None:
    """:class:`StartupError` unless the database's schema is this code's Alembic head."""
    import asyncio

    from stockyard.db.migrate import SchemaMismatch, check_schema

    try:
        asyncio.run(check_schema(settings.effective_database_url))
    except SchemaMismatch as exc:
        where = settings.effective_database_url.split("@")[-1]
        raise StartupError(f"{exc} (database {where})") from None


class DataDirLock:
    """An exclusive lock on a data directory, held until :meth:`release` or process end.

    The file descriptor is not inherited by child processes, so the lock ends with the
    process that took it, however it ends.
    """

    def __init__(self, data_dir: Path, fd: int) -> None:
        self.data_dir = data_dir
        self.path = data_dir / LOCK_NAME
        self._fd: int | None = fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            os.close(fd)  # closing releases the flock


def _holder(fd: int) -> int | None:
    try:
        raw = os.pread(fd, 32, 0).decode(errors="replace").strip()
    except OSError:
        return None
    return int(raw) if raw.isdigit() else None


def hold_data_dir(data_dir: Path, what: str = "stockyard up") -> DataDirLock:
    """Take ``<data_dir>/stockyard.lock`` (creating the directory if needed) or raise
    :class:`StartupError` naming the directory and the holder's pid."""
    data_dir = data_dir.resolve()
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(data_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise StartupError(f"cannot use data directory {data_dir}: {exc.strerror}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        holder = _holder(fd)
        os.close(fd)
        if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise StartupError(f"cannot lock data directory {data_dir}: {exc.strerror}") from exc
        by = f" (pid {holder})" if holder is not None else ""
        raise StartupError(
            f"data directory {data_dir} is in use by another {what}{by}; "
            "stop it or use another --data-dir"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return DataDirLock(data_dir, fd)


def bind_api_socket(host: str, port: int) -> socket.socket:
    """The API's listening socket, or :class:`StartupError`.

    It listens at once: on Linux two ``SO_REUSEADDR`` sockets may both bind a port while
    neither listens, so a socket only bound would not keep a second start out. Clients
    that connect before the API serves wait in the backlog.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as exc:
        raise StartupError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        reason = "the port is in use" if exc.errno == errno.EADDRINUSE else exc.strerror
        raise StartupError(f"cannot listen on {host}:{port}: {reason}") from exc
    sock.set_inheritable(False)
    return sock
