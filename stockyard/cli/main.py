"""The ``stockyard`` command: ``up``, ``version``, ``db upgrade`` and operator helpers."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.panel import Panel

from stockyard import __version__
from stockyard.cli import baremetal_agent, roles
from stockyard.cli.logs import configure_logging
from stockyard.settings import Settings


class _Stockyard(typer.Typer):
    """The command; a start refused for a known reason prints one line, no traceback."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from stockyard.cli.startup import StartupError
        from stockyard.extras import MissingExtra

        try:
            return super().__call__(*args, **kwargs)
        except (StartupError, MissingExtra) as exc:
            print(f"stockyard: {exc}", file=sys.stderr)
            raise SystemExit(1) from None


app = _Stockyard(help="Stockyard: an OpenStack-compatible private cloud control plane.")
db_app = typer.Typer(help="Database schema commands.")
app.add_typer(db_app, name="db")
lab_app = typer.Typer(help="The emulated lab.")
app.add_typer(lab_app, name="lab")
roles.register(app)
baremetal_agent.register(app)
console = Console()


def _settings(**overrides: object) -> Settings:
    clean = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**clean)  # type: ignore[arg-type]


def _logging(settings: Settings, role: str = "up") -> None:
    configure_logging(settings.log_level, json_lines=settings.log_json, role=role)


@app.command()
def version() -> None:
    """Print the Stockyard version."""
    console.print(f"stockyard {__version__}")


@app.command()
def up(
    port: int | None = typer.Option(None, help="API port (default 8774)"),
    host: str | None = typer.Option(None, help="API bind address (default 127.0.0.1)"),
    data_dir: Path | None = typer.Option(None, help="Data directory (default ./data)"),
    lab: Path | None = typer.Option(None, help="Lab YAML (default: the shipped lab)"),
    log_json: bool | None = roles.LOG_JSON,
) -> None:
    """Start the whole cloud in one process: API, scheduler, conductor, emulated lab.

    Backends come from the settings: SQLite + in-process bus by default, or
    ``STOCKYARD_DATABASE_URL`` (PostgreSQL/MariaDB) and ``STOCKYARD_BUS_URL`` (RabbitMQ).
    Before it starts anything it checks the drivers, locks the data directory and binds
    the API port; any of them failing stops it with one line. Its child processes (BMC
    emulators) end with it, also when it is killed.
    """
    settings = _settings(
        api_port=port, api_host=host, data_dir=data_dir, lab_file=lab, log_json=log_json
    )
    _logging(settings)
    from stockyard.cli.startup import bind_api_socket, check_drivers, hold_data_dir

    check_drivers(settings)
    lock = hold_data_dir(settings.data_dir)
    try:
        sock = bind_api_socket(settings.api_host, settings.api_port)
        try:
            asyncio.run(_up(settings, sock))
        finally:
            sock.close()
    finally:
        lock.release()


async def _up(settings: Settings, sock: socket.socket) -> None:
    from stockyard.cli.embedded import EmbeddedCloud

    cloud = EmbeddedCloud(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    stopping = asyncio.create_task(stop.wait())
    serve: asyncio.Task[None] | None = None
    try:
        prepare = asyncio.create_task(cloud.prepare())
        await asyncio.wait([prepare, stopping], return_when=asyncio.FIRST_COMPLETED)
        if not prepare.done():  # stopped while starting
            prepare.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await prepare
            return
        await prepare  # raises what made it fail
        # What start-up built (modules, lab, host states: ~400k objects) lives as long as
        # the process; frozen, the collector's full passes skip it. Unfrozen, each full
        # pass took 200-400 ms on 2 busy cores, stalling whatever request triggered it
        # (the p95 of a 1,000-server list).
        gc.collect()
        gc.freeze()
        ready = asyncio.Event()
        serve = asyncio.create_task(cloud.serve(ready, sock))
        readying = asyncio.create_task(ready.wait())
        await asyncio.wait([readying, serve, stopping], return_when=asyncio.FIRST_COMPLETED)
        readying.cancel()
        if serve.done() or stop.is_set():
            return
        base = settings.base_url
        console.print(
            Panel.fit(
                f"[bold]Stockyard is up[/bold]\n"
                f"identity  {base}/identity/v3\n"
                f"compute   {base}/compute/v2.1\n"
                f"image     {base}/image/v2\n"
                f"network   {base}/network/v2.0\n"
                f"volume    {base}/volume/v3\n"
                f"dashboard {base}/dashboard/\n"
                f"regions   {', '.join(cloud.regions)}\n\n"
                f"export OS_CLIENT_CONFIG_FILE={cloud.clouds_yaml}\n"
                f"export OS_CLOUD=stockyard-admin   # or 'stockyard' for the demo member\n"
                f"openstack server create --flavor m1.tiny --image stockyard-default "
                f"--wait vm1",
                title=f"stockyard {__version__}",
            )
        )
        await asyncio.wait([stopping, serve], return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        # Everything started so far, also when the start failed half-way.
        await cloud.stop()
        if serve is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await serve


@db_app.command("upgrade")
def db_upgrade(
    revision: str = typer.Argument("head"),
    lab: Path | None = typer.Option(None, help="Lab YAML to enroll (default: setting)"),
    seed: bool = typer.Option(True, "--seed/--schema-only", help="also seed users and lab"),
) -> None:
    """Create or upgrade the schema (Alembic), then seed users, flavors, the default image
    and the lab's hosts, and write clouds.yaml; safe to run again."""
    settings = _settings(lab_file=lab)
    _logging(settings, "db")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    from stockyard.db.migrate import upgrade_sync

    upgrade_sync(settings.effective_database_url, revision)
    console.print(f"database at {revision}: {settings.effective_database_url.split('@')[-1]}")
    if seed and revision == "head":
        clouds = asyncio.run(_seed(settings, enroll=True))
        console.print(f"seeded; export OS_CLIENT_CONFIG_FILE={clouds}")


@lab_app.command("enroll")
def lab_enroll(
    lab: Path | None = typer.Option(None, help="Lab YAML (default: setting)"),
) -> None:
    """Register the lab's regions and hosts in the database (agents cannot: no DB access)."""
    settings = _settings(lab_file=lab)
    _logging(settings, "db")
    asyncio.run(_seed(settings, enroll=True, users=False))
    console.print("lab enrolled")


async def _seed(settings: Settings, *, enroll: bool, users: bool = True) -> Path | None:
    from stockyard.cli.seed import enroll_lab, seed_cloud
    from stockyard.db.base import Database

    db = Database(settings.effective_database_url, **settings.database_engine_options())
    try:
        if enroll:
            await enroll_lab(settings, db)
        return await seed_cloud(settings, db) if users else None
    finally:
        await db.dispose()


if __name__ == "__main__":
    app()
