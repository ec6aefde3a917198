"""Service heartbeats: each scheduler and conductor process refreshes its ``services`` row.

``os-services`` lists these rows (binaries named as Nova's: ``nova-scheduler``,
``nova-conductor``) and shows one down when its ``last_seen`` is older than the API's
down time. Processes of one binary on one host share a row, as Nova's ``(host, binary)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from stockyard.db.base import Database, execute_count, utcnow
from stockyard.db.models.compute import Service

log = logging.getLogger(__name__)

SCHEDULER_BINARY = "nova-scheduler"
CONDUCTOR_BINARY = "nova-conductor"
CINDER_SCHEDULER_BINARY = "cinder-scheduler"
CINDER_VOLUME_BINARY = "cinder-volume"
CINDER_BINARIES = (CINDER_SCHEDULER_BINARY, CINDER_VOLUME_BINARY)
"""Rows of the volume role: Cinder's os-services lists them, Nova's does not."""
HEARTBEAT_SECONDS = 10.0
"""How often a process refreshes its row (Nova's report_interval); well under the 60 s
after which the API shows it down."""


def service_host() -> str:
    """The host name a process reports under (Nova's ``CONF.host``)."""
    return socket.gethostname().split(".")[0][:255]


class ServiceHeartbeat:
    """Keeps the ``(host, binary)`` row of one process fresh."""

    def __init__(
        self,
        db: Database,
        binary: str,
        *,
        host: str | None = None,
        interval: float = HEARTBEAT_SECONDS,
    ) -> None:
        self.db = db
        self.binary = binary
        self.host = host or service_host()
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    async def beat(self, now: datetime | None = None) -> None:
        """Refresh ``last_seen`` (creating the row the first time)."""
        now = now or utcnow()
        stmt = (
            update(Service)
            .where(Service.host == self.host, Service.binary == self.binary)
            .values(last_seen=now)
            .execution_options(synchronize_session=False)
        )
        async with self.db.session() as s:
            if await execute_count(s, stmt) == 1:
                return
        try:
            async with self.db.session() as s:
                s.add(Service(host=self.host, binary=self.binary, last_seen=now, created_at=now))
        except IntegrityError:  # another process of this host created it meanwhile
            async with self.db.session() as s:
                await execute_count(s, stmt)

    async def start(self, *, loop: bool = True) -> None:
        """Beat once now; with ``loop``, keep beating every ``interval`` seconds."""
        await self._beat_logged()
        if loop and self._task is None:
            self._task = asyncio.create_task(self._forever(), name=f"heartbeat-{self.binary}")

    async def stop(self) -> None:
        """Stop beating (the row stays, and turns down in the API after the down time)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _beat_logged(self) -> None:
        try:
            await self.beat()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s heartbeat failed", self.binary)

    async def _forever(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self._beat_logged()
