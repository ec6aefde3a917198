"""All roles in one process: what ``stockyard up`` runs.

Order matters: schema, seed, lab enrollment, scheduler and conductor (they load host
state), the volume role, agents (they report to the conductor), then the API, so the
first request finds a ready cloud. The backends are the settings' (SQLite + in-process
bus by default; PostgreSQL/MariaDB + RabbitMQ when ``database_url``/``bus_url`` say so);
the roles talk over the bus exactly as separate processes do.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from dataclasses import dataclass, field
from typing import Any

import uvicorn

from stockyard.api.app import create_app
from stockyard.api.state import APIState
from stockyard.bus.base import Bus
from stockyard.bus.factory import make_bus as bus_from_url
from stockyard.cli.seed import enroll_lab, load_regions, seed_cloud
from stockyard.db.base import Database
from stockyard.db.migrate import upgrade
from stockyard.identity.tokens import TokenService
from stockyard.settings import Settings

log = logging.getLogger("stockyard.up")


def make_bus(settings: Settings) -> Bus:
    """The bus ``settings.bus_url`` names; exits with the reason if it names none."""
    try:
        bus = bus_from_url(settings.bus_url)
    except ValueError as exc:
        raise SystemExit(str(exc)) from exc
    if settings.bus_prefix != "stockyard" and hasattr(bus, "prefix"):
        # Set before start(): queue names are derived from it on first declare.
        bus.prefix = settings.bus_prefix
    return bus


@dataclass
class EmbeddedCloud:
    """The whole cloud in one event loop."""

    settings: Settings
    db: Database = field(init=False)
    bus: Bus = field(init=False)
    state: APIState = field(init=False)
    regions: list[str] = field(default_factory=list)
    clouds_yaml: str = ""
    _stoppables: list[Any] = field(default_factory=list)
    _server: uvicorn.Server | None = None
    _dashboard: Any = None

    async def prepare(self) -> None:
        """Schema, seed, lab, scheduler, conductor and agents; the API is built, not serving.

        What it started is recorded as it goes: :meth:`stop` after a failed or cancelled
        ``prepare`` stops that part (and the children it started end with the process in
        any case, see :mod:`stockyard.children`).
        """
        s = self.settings
        s.data_dir.mkdir(parents=True, exist_ok=True)
        await upgrade(s.effective_database_url)
        self.db = Database(s.effective_database_url, **s.database_engine_options())
        self.bus = make_bus(s)
        await self.bus.start()
        lab = await enroll_lab(s, self.db)
        self.clouds_yaml = str(await seed_cloud(s, self.db))
        self.regions = await load_regions(self.db)
        from stockyard.conductor.service import Conductor
        from stockyard.placement.service import SchedulerService

        scheduler = SchedulerService(self.db, self.bus, s)
        await scheduler.start()
        self._stoppables.append(scheduler)
        conductor = Conductor(self.db, self.bus, s, remote_scheduling=True)
        await conductor.start()
        self._stoppables.append(conductor)
        from stockyard.volume.service import VolumeService

        volumes = VolumeService(self.db, self.bus, s)
        await volumes.start()
        self._stoppables.append(volumes)
        from stockyard.lab.runtime import start_lab_agents

        pool = await start_lab_agents(lab, self.bus, s)
        self._stoppables.append(pool)
        from stockyard.lab.libvirt_host import start_libvirt_agent

        # This machine's QEMU/KVM hypervisor, when libvirt_uri is set.
        if (libvirt_agent := await start_libvirt_agent(s, self.bus)) is not None:
            self._stoppables.append(libvirt_agent)
        from stockyard.lab.baremetal import start_baremetal_lab

        # BMC emulators, one hwmgr per region and the baremetal agent (after the image seed
        # and the conductor, which the baremetal flavors and reports need).
        self._stoppables.append(await start_baremetal_lab(lab, s, self.bus, self.db))
        # The scheduler and conductor loaded hosts before the nodes were enrolled: without
        # this, baremetal creates fail with No valid host until the next periodic refresh.
        await scheduler.hosts.refresh()
        await conductor.hosts.refresh()
        self.state = APIState(
            settings=s, db=self.db, tokens=TokenService(s.token_ttl_seconds), bus=self.bus
        )
        self.state.regions = self.regions

    async def serve(
        self, ready: asyncio.Event | None = None, sock: socket.socket | None = None
    ) -> None:
        """Serve the API until stopped (Ctrl-C or ``stop``), on ``sock`` when given (a
        listening socket bound early, see :func:`stockyard.cli.startup.bind_api_socket`)."""
        from stockyard.cli.asgi import add_readyz

        app = create_app(self.state)
        add_readyz(app, self.state)
        from stockyard.dashboard.app import create_dashboard

        # The dashboard calls the API over HTTP through the catalog, as it does when it
        # runs alone (``stockyard dashboard``); it only shares the listening socket.
        self._dashboard = create_dashboard(f"{self.settings.base_url}/identity/v3")
        app.mount("/dashboard", self._dashboard)
        config = uvicorn.Config(
            app,
            host=self.settings.api_host,
            port=self.settings.api_port,
            log_level=self.settings.log_level.lower(),
            access_log=False,
            lifespan="off",
            log_config=None,
            timeout_keep_alive=self.settings.api_keep_alive_seconds,
        )
        self._server = uvicorn.Server(config)
        serve_task = asyncio.create_task(self._server.serve([sock] if sock else None))
        # uvicorn exposes no "started" event, only a flag.
        while not self._server.started and not serve_task.done():  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        if ready is not None:
            ready.set()
        await serve_task

    async def stop(self) -> None:
        """Stop what was started, in reverse order; also after a partial ``prepare``."""
        if self._server is not None:
            self._server.should_exit = True
        if self._dashboard is not None:
            await self._dashboard.state.dashboard.aclose()
        stoppables, self._stoppables = self._stoppables, []
        for item in reversed(stoppables):
            try:
                await item.stop()
            except Exception:
                log.exception("stopping %s", type(item).__name__)
        if (bus := getattr(self, "bus", None)) is not None:
            await bus.close()
        if (db := getattr(self, "db", None)) is not None:
            await db.dispose()
