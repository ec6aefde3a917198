"""The libvirt driver's plumbing: one connection per driver, calls in threads, domains.

Every libvirt call runs in a thread (``asyncio.to_thread``); libvirt connections are
thread-safe. libvirt's errors become ``DriverError`` carrying libvirt's own message, and
"no such domain" becomes ``InstanceNotFound``. The blocking helpers (``_lookup``,
``_define``, ``_undefine`` ...) are meant to be handed to ``_run``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import libvirt

from stockyard.compute.drivers.base import DriverError, InstanceNotFound, InstanceSpec
from stockyard.compute.drivers.libvirt.domain import (
    DOMAIN_PREFIX,
    METADATA_NS,
    domain_name,
    read_metadata,
)

T = TypeVar("T")

# libvirt prints every error to stderr by default; errors are raised and mapped instead.
libvirt.registerErrorHandler(lambda _ctx, _err: None, None)


class LibvirtConnection:
    """The connection to the hypervisor at ``uri`` and the domain helpers built on it;
    the base of the driver's mixins (ports, power) and of the driver."""

    def __init__(self, host: str, uri: str) -> None:
        self.host = host
        self.uri = uri
        self._conn: Any = None
        self._conn_lock = threading.Lock()

    def _connection(self) -> Any:
        with self._conn_lock:
            if self._conn is None or not self._conn.isAlive():
                self._conn = libvirt.open(self.uri)
            return self._conn

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in a thread, libvirt errors mapped to ``DriverError``."""
        try:
            return await asyncio.to_thread(fn, *args)
        except libvirt.libvirtError as exc:
            message = exc.get_error_message() or str(exc)
            raise DriverError(f"libvirt on {self.host}: {message}") from exc

    def _lookup(self, instance_uuid: str) -> Any:
        """The domain of ``instance_uuid`` or None (blocking)."""
        try:
            return self._connection().lookupByName(domain_name(instance_uuid))
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                return None
            raise

    async def _domain(self, instance: InstanceSpec) -> Any:
        dom = await self._run(self._lookup, instance.uuid)
        if dom is None:
            raise InstanceNotFound(instance.uuid, self.host)
        return dom

    def _metadata_of(self, dom: Any) -> dict[str, str]:
        try:
            xml = dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, METADATA_NS)
        except libvirt.libvirtError:
            return {}
        return read_metadata(xml)

    def _used_ports(self) -> set[int]:
        ports: set[int] = set()
        for dom in self._connection().listAllDomains():
            if dom.name().startswith(DOMAIN_PREFIX):
                port = self._metadata_of(dom).get("ssh_port", "")
                if port.isdigit():
                    ports.add(int(port))
        return ports

    def _define(self, xml: str) -> Any:
        return self._connection().defineXML(xml)

    @staticmethod
    def _start(dom: Any) -> None:
        if not dom.isActive():
            dom.create()

    @staticmethod
    def _undefine(dom: Any) -> None:
        if dom.isActive():
            dom.destroy()
        try:
            dom.undefineFlags(
                libvirt.VIR_DOMAIN_UNDEFINE_NVRAM | libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
            )
        except libvirt.libvirtError as exc:
            if exc.get_error_code() not in (
                libvirt.VIR_ERR_INVALID_ARG,
                libvirt.VIR_ERR_NO_SUPPORT,
            ):
                raise
            dom.undefine()  # a driver without NVRAM support (test:///default)

    def _undefine_if_exists(self, instance_uuid: str) -> None:
        dom = self._lookup(instance_uuid)
        if dom is not None:
            self._undefine(dom)

    async def close(self) -> None:
        def close() -> None:
            with self._conn_lock:
                if self._conn is not None:
                    try:
                        self._conn.close()
                    except libvirt.libvirtError:
                        pass
                    self._conn = None

        await asyncio.to_thread(close)
