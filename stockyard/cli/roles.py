"""One console command per role: ``api``, ``scheduler``, ``conductor``, ``agent``,
``volume``.

Each reads the same settings (``STOCKYARD_*`` environment / settings file); scheduler,
conductor and agent serve ``/healthz`` and ``/readyz`` on ``--health-port`` when given
(``0``: a free port, logged). Several schedulers and conductors may run at once.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

import typer

from stockyard.bus.base import Bus, Handler, Message
from stockyard.cli.health import HealthServer
from stockyard.cli.logs import configure_logging
from stockyard.settings import Settings

log = logging.getLogger("stockyard.role")

HEALTH_PORT = typer.Option(
    None, "--health-port", help="serve /healthz and /readyz here (0: a free port, logged)"
)
HEALTH_HOST = typer.Option("127.0.0.1", "--health-host", help="bind address of --health-port")
LOG_JSON = typer.Option(None, "--log-json/--log-plain", help="JSON log lines (default: setting)")


class Role(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


Checks = Callable[[], Awaitable[dict[str, bool]]]


def _settings(log_json: bool | None, role: str, **overrides: Any) -> Settings:
    clean = {k: v for k, v in overrides.items() if v is not None}
    if log_json is not None:
        clean["log_json"] = log_json
    settings = Settings(**clean)
    configure_logging(settings.log_level, json_lines=settings.log_json, role=role)
    return settings


async def _run(
    name: str,
    bus: Bus,
    make: Callable[[], Awaitable[tuple[Role, Checks]]],
    health_port: int | None,
    health_host: str,
    on_stop: Callable[[], Awaitable[None]] | None = None,
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await bus.start()
    role, checks = await make()
    await role.start()
    health = None
    if health_port is not None:
        health = HealthServer(checks, health_host, health_port)
        await health.start()
    log.info("%s started", name)
    await stop.wait()
    log.info("%s stopping", name)
    if health is not None:
        await health.stop()
    await role.stop()
    await bus.close()
    if on_stop is not None:
        await on_stop()


def _refuse_unknown_schema(settings: Settings) -> None:
    """Stop with one line when the schema is not this code's (see ``check_database_schema``)."""
    from stockyard.cli.startup import check_database_schema, check_drivers

    # A missing driver is named first: without it the schema cannot even be read.
    check_drivers(settings)
    check_database_schema(settings)


def _bus(settings: Settings) -> Bus:
    from stockyard.cli.embedded import make_bus

    return make_bus(settings)


def register(app: typer.Typer) -> None:
    """Add the role commands to the ``stockyard`` command."""

    @app.command()
    def api(
        workers: int = typer.Option(1, "--workers", min=1, help="worker processes"),
        port: int | None = typer.Option(None, help="API port (default: setting api_port)"),
        host: str | None = typer.Option(None, help="bind address (default: setting api_host)"),
        log_json: bool | None = LOG_JSON,
    ) -> None:
        """Serve the OpenStack API (with /healthz and /readyz) in N worker processes."""
        import os

        import uvicorn

        settings = _settings(log_json, "api", api_port=port, api_host=host)
        from stockyard.cli.startup import check_database_schema, check_drivers

        # In the parent, before the workers: a missing driver is one line, not N tracebacks.
        check_drivers(settings)
        check_database_schema(settings)
        # Workers are fresh processes that read the settings from the environment.
        if log_json is not None:
            os.environ["STOCKYARD_LOG_JSON"] = "true" if log_json else "false"
        uvicorn.run(
            "stockyard.cli.asgi:make_app",
            factory=True,
            host=settings.api_host,
            port=settings.api_port,
            workers=workers,
            log_level=settings.log_level.lower(),
            access_log=False,
            log_config=None,
            lifespan="on",
            timeout_keep_alive=settings.api_keep_alive_seconds,
        )

    @app.command()
    def scheduler(
        health_port: int | None = HEALTH_PORT,
        health_host: str = HEALTH_HOST,
        log_json: bool | None = LOG_JSON,
    ) -> None:
        """Place builds from topic ``scheduler`` (claims are atomic in the database)."""
        settings = _settings(log_json, "scheduler")
        _refuse_unknown_schema(settings)
        from stockyard.db.base import Database
        from stockyard.placement.service import SchedulerService, db_reachable

        db = Database(settings.effective_database_url, **settings.database_engine_options())
        bus = _bus(settings)

        async def make() -> tuple[Role, Checks]:
            svc = SchedulerService(db, bus, settings)

            async def checks() -> dict[str, bool]:
                return {"database": await db_reachable(db), "bus": bus.healthy()}

            return svc, checks

        asyncio.run(_run("scheduler", bus, make, health_port, health_host, db.dispose))

    @app.command()
    def conductor(
        health_port: int | None = HEALTH_PORT,
        health_host: str = HEALTH_HOST,
        log_json: bool | None = LOG_JSON,
    ) -> None:
        """Drive instances' tasks, apply op results and host reports, run the reconciler."""
        settings = _settings(log_json, "conductor")
        _refuse_unknown_schema(settings)
        from stockyard.conductor.service import Conductor
        from stockyard.db.base import Database
        from stockyard.placement.service import db_reachable

        db = Database(settings.effective_database_url, **settings.database_engine_options())
        bus = _bus(settings)

        async def make() -> tuple[Role, Checks]:
            svc = Conductor(db, bus, settings, remote_scheduling=True)

            async def checks() -> dict[str, bool]:
                return {"database": await db_reachable(db), "bus": bus.healthy()}

            return svc, checks

        asyncio.run(_run("conductor", bus, make, health_port, health_host, db.dispose))

    @app.command()
    def volume(
        health_port: int | None = HEALTH_PORT,
        health_host: str = HEALTH_HOST,
        log_json: bool | None = LOG_JSON,
    ) -> None:
        """Do the volume work (create, delete, extend, snapshots) of topic ``volume`` on the
        backends of ``volume_backends``; its reconciler resumes or fails what is stuck."""
        settings = _settings(log_json, "volume")
        _refuse_unknown_schema(settings)
        from stockyard.db.base import Database
        from stockyard.placement.service import db_reachable
        from stockyard.volume.service import VolumeService

        db = Database(settings.effective_database_url, **settings.database_engine_options())
        bus = _bus(settings)

        async def make() -> tuple[Role, Checks]:
            svc = VolumeService(db, bus, settings)

            async def checks() -> dict[str, bool]:
                return {"database": await db_reachable(db), "bus": bus.healthy()}

            return svc, checks

        asyncio.run(_run("volume", bus, make, health_port, health_host, db.dispose))

    @app.command()
    def agent(
        lab: Path | None = typer.Option(None, "--lab", help="lab YAML (default: setting)"),
        report_interval: float = typer.Option(10.0, help="seconds between host reports"),
        health_port: int | None = HEALTH_PORT,
        health_host: str = HEALTH_HOST,
        log_json: bool | None = LOG_JSON,
    ) -> None:
        """Run the lab's emulated hypervisors, and this machine's libvirt host when
        ``libvirt_uri`` is set (no database credentials needed).

        The lab's hosts must be enrolled first (``stockyard db upgrade`` or
        ``stockyard lab enroll`` with the same lab file).
        """
        settings = _settings(log_json, "agent", lab_file=lab)
        from stockyard.lab.libvirt_host import build_libvirt_agent
        from stockyard.lab.model import load_lab
        from stockyard.lab.runtime import build_lab_pool

        bus = _bus(settings)

        async def make() -> tuple[Role, Checks]:
            pool = build_lab_pool(
                load_lab(settings.lab_file), _OpLoggingBus(bus), settings,
                report_interval=report_interval,
            )  # fmt: skip
            # This machine's libvirt hypervisor (libvirt_uri), in the same pool.
            libvirt_agent = build_libvirt_agent(
                settings, _OpLoggingBus(bus), report_interval=report_interval
            )
            if libvirt_agent is not None:
                pool.add(libvirt_agent)

            async def checks() -> dict[str, bool]:
                return {"bus": bus.healthy()}

            return pool, checks

        asyncio.run(_run("agent", bus, make, health_port, health_host))

    @app.command()
    def dashboard(
        identity_url: str | None = typer.Option(
            None, "--identity-url", help="Identity v3 URL (default: <public URL>/identity/v3)"
        ),
        port: int = typer.Option(8780, help="dashboard port"),
        host: str = typer.Option("127.0.0.1", help="bind address"),
        secure_cookies: bool = typer.Option(
            False, "--secure-cookies/--plain-cookies", help="mark the session cookie Secure (HTTPS)"
        ),
        log_json: bool | None = LOG_JSON,
    ) -> None:
        """Serve the web dashboard at /dashboard, a client of the public APIs only.

        One process: sessions live in its memory (see ``stockyard.dashboard.sessions``);
        more replicas need sticky sessions or a shared session store.
        """
        import uvicorn

        settings = _settings(log_json, "dashboard")
        from stockyard.dashboard.app import standalone_app

        url = identity_url or f"{settings.base_url}/identity/v3"
        uvicorn.run(
            standalone_app(url, secure_cookies=secure_cookies),
            host=host,
            port=port,
            log_level=settings.log_level.lower(),
            access_log=False,
            log_config=None,
            timeout_keep_alive=settings.api_keep_alive_seconds,
        )


class _OpLoggingBus:
    """The agent role's bus: logs each op it receives (with the request id bound)."""

    def __init__(self, inner: Bus) -> None:
        self.inner = inner

    async def start(self) -> None:
        await self.inner.start()

    async def publish(self, topic: str, message: Message) -> None:
        await self.inner.publish(topic, message)

    async def subscribe(self, topic: str, handler: Handler, concurrency: int = 8) -> None:
        async def logged(message: Message) -> None:
            instance = message.get("instance") or {}
            log.info("agent %s: %s %s", topic, message.get("op"), instance.get("uuid"))
            await handler(message)

        await self.inner.subscribe(topic, logged, concurrency)

    async def close(self) -> None:
        await self.inner.close()

    def healthy(self) -> bool:
        return self.inner.healthy()
