"""Redfish BMC driver (sushy): blocking sushy calls on the BMC thread pool.

One sushy client per (endpoint, user, password) is kept and shared by every system and
every call to that endpoint, so a region talks to each BMC over a reused connection.
"""

from __future__ import annotations

import hashlib
import threading
from http import HTTPStatus
from typing import Any

import requests
import sushy
import sushy.auth
from sushy import exceptions as sushy_exc

from stockyard.hwmgr.bmc.base import (
    BMC,
    BMCConnectionError,
    BMCCredentials,
    BMCError,
    BMCFatalError,
    BMCPower,
    RetryPolicy,
)

_CLIENTS: dict[tuple[str, str, str], Any] = {}
_CLIENTS_LOCK = threading.Lock()


def _client_key(url: str, credentials: BMCCredentials) -> tuple[str, str, str]:
    # The key holds a digest, never the password, so a dump of the pool leaks nothing.
    digest = hashlib.sha256(credentials.password.get_secret_value().encode()).hexdigest()
    return (url, credentials.username, digest)


def drop_clients() -> None:
    """Forget every pooled sushy client (tests; credential rotation)."""
    with _CLIENTS_LOCK:
        _CLIENTS.clear()


def _status_text(code: int | None) -> str:
    try:
        return f"{code} {HTTPStatus(code or 0).phrase}"
    except ValueError:
        return f"HTTP {code}"


def _reason(exc: BaseException) -> str:
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, requests.exceptions.Timeout):
        return "timed out"
    if isinstance(cause, requests.exceptions.ConnectionError):
        text = str(cause)
        return "connection refused" if "refused" in text.lower() else f"connection failed ({text})"
    return str(exc)


class RedfishBMC(BMC):
    """A ComputerSystem behind a Redfish service; ``system_id`` is its id, UUID or path
    (``None``: the service's only system)."""

    driver = "Redfish"

    def __init__(
        self,
        address: str,
        port: int,
        credentials: BMCCredentials,
        system_id: str | None = None,
        retry: RetryPolicy | None = None,
        scheme: str = "http",
        verify: bool = False,
    ) -> None:
        super().__init__(address, port, credentials, system_id, retry)
        host = f"[{address}]" if ":" in address else address
        self.base_url = f"{scheme}://{host}:{port}"
        self.verify = verify

    # -- sushy plumbing -----------------------------------------------------------------
    def _client(self) -> Any:
        key = _client_key(self.base_url, self.credentials)
        with _CLIENTS_LOCK:
            client = _CLIENTS.get(key)
        if client is not None:
            return client
        # sushy's own retries (10 x 3 s by default) would hide failures from our policy.
        timeout = self.retry.call_timeout
        client = sushy.Sushy(
            self.base_url + "/redfish/v1/",
            auth=sushy.auth.BasicAuth(
                username=self.credentials.username,
                password=self.credentials.password.get_secret_value(),
            ),
            verify=self.verify,
            server_side_retries=1,
            server_side_retries_delay=0,
            read_timeout=max(1.0, timeout * 0.8),
            connect_timeout=min(5.0, timeout / 2),
        )
        with _CLIENTS_LOCK:
            return _CLIENTS.setdefault(key, client)

    def _forget_client(self) -> None:
        with _CLIENTS_LOCK:
            _CLIENTS.pop(_client_key(self.base_url, self.credentials), None)

    def _system(self) -> Any:
        client = self._client()
        if self.system_id is None:
            return client.get_system()
        if self.system_id.startswith("/"):
            return client.get_system(self.system_id)
        return client.get_system(f"{client._systems_path.rstrip('/')}/{self.system_id}")

    def _run(self, op: str, *args: Any) -> Any:
        try:
            if op == "state":
                return self._system().power_state
            system = self._system()
            if op == "reset":
                system.reset_system(args[0])
            elif op == "pxe_once":
                system.set_system_boot_options(
                    target=sushy.BOOT_SOURCE_TARGET_PXE,
                    enabled=sushy.BOOT_SOURCE_ENABLED_ONCE,
                )
            return None
        except BMCError:
            raise
        except sushy_exc.ConnectionError as exc:
            self._forget_client()
            raise BMCConnectionError(f"{self.label} unreachable: {_reason(exc)}") from exc
        except sushy_exc.AccessError as exc:
            self._forget_client()
            raise BMCFatalError(f"{self.label} refused: {_status_text(exc.status_code)}") from exc
        except sushy_exc.ResourceNotFoundError as exc:
            raise BMCFatalError(f"{self.label} has no system {self.system_id!r}") from exc
        except sushy_exc.HTTPError as exc:
            text = f"{self.label} answered {_status_text(exc.status_code)}: {exc.detail or ''}"
            if (exc.status_code or 0) >= 500:
                raise BMCConnectionError(text.rstrip(": ")) from exc
            raise BMCFatalError(text.rstrip(": ")) from exc
        except sushy_exc.SushyError as exc:
            raise BMCFatalError(f"{self.label}: {exc}") from exc

    # -- the raw calls ------------------------------------------------------------------
    def _power_state(self) -> BMCPower:
        state = self._run("state")
        if state in (sushy.POWER_STATE_ON, sushy.POWER_STATE_POWERING_OFF):
            return "on"
        return "off"

    def _power_on(self) -> None:
        self._run("reset", sushy.RESET_ON)

    def _power_off(self) -> None:
        self._run("reset", sushy.RESET_FORCE_OFF)

    def _power_cycle(self) -> None:
        # ForceRestart on a powered-off system is refused by many BMCs: power on instead.
        if self._run("state") == sushy.POWER_STATE_OFF:
            self._run("reset", sushy.RESET_ON)
        else:
            self._run("reset", sushy.RESET_FORCE_RESTART)

    def _set_boot_pxe_once(self) -> None:
        self._run("pxe_once")
