"""``stockyard baremetal-agent``: the compute agent of one region's baremetal nodes.

One process per region: a ``BaremetalDriver`` against the region's hwmgr (``--hwmgr-url``,
service token ``STOCKYARD_HWMGR_TOKEN``), one ``ComputeAgent`` per hwmgr node of the region
on the bus, and the signed-URL image server hwmgr downloads deploy images from
(``--image-port``; ``--image-url`` is the address hwmgr reaches it at). Images are read
from the image store by id (``<data_dir>/images``, shared read-only as the libvirt agents
share it); the role holds no database credentials.

The nodes are hwmgr's: those it lists at start, and every ``--rescan-interval`` seconds
the ones enrolled since join. Their main-database ``Host`` rows are written by whoever
enrols them (the lab, or an operator's enrolment), not by this role.

A single replica per region (replaced with ``Recreate``): with two, a node's ops would be
split between processes whose per-instance locks and node-owner caches do not see each
other, and hwmgr would fetch an image URL signed by one replica through the Service from
the other (the signing key is random per process), which refuses it.
"""

from __future__ import annotations

import asyncio

import typer
from pydantic import SecretStr


def register(app: typer.Typer) -> None:
    """Add ``baremetal-agent`` to the ``stockyard`` command."""
    from stockyard.cli.roles import (
        HEALTH_HOST,
        HEALTH_PORT,
        LOG_JSON,
        Checks,
        Role,
        _bus,
        _OpLoggingBus,
        _run,
        _settings,
    )

    @app.command("baremetal-agent")
    def baremetal_agent(
        region: str = typer.Option(..., "--region", help="the region whose nodes it serves"),
        hwmgr_url: str = typer.Option(..., "--hwmgr-url", help="the region's hwmgr base URL"),
        hwmgr_token: str = typer.Option(
            "", envvar="STOCKYARD_HWMGR_TOKEN", show_default=False, hidden=True
        ),
        image_host: str = typer.Option(
            "127.0.0.1", "--image-host", help="bind address of the image server"
        ),
        image_port: int = typer.Option(0, "--image-port", help="image server port (0: free)"),
        image_url: str | None = typer.Option(
            None, "--image-url", help="base URL hwmgr fetches images at (default: bound address)"
        ),
        report_interval: float = typer.Option(10.0, help="seconds between host reports"),
        rescan_interval: float = typer.Option(60.0, help="seconds between hwmgr node listings"),
        health_port: int | None = HEALTH_PORT,
        health_host: str = HEALTH_HOST,
        log_json: bool | None = LOG_JSON,
    ) -> None:
        """Run one region's baremetal nodes through its hwmgr (no database credentials).

        The hwmgr service token comes from ``STOCKYARD_HWMGR_TOKEN``; deploy images are read
        from ``<data_dir>/images`` and served to hwmgr on ``--image-port``.
        """
        from stockyard.cli.baremetal_role import BaremetalAgentRole

        settings = _settings(log_json, "baremetal-agent")
        if not hwmgr_token:
            raise SystemExit("STOCKYARD_HWMGR_TOKEN is not set: hwmgr refuses callers without it")
        bus = _bus(settings)

        async def make() -> tuple[Role, Checks]:
            role = BaremetalAgentRole(
                _OpLoggingBus(bus),
                region=region,
                hwmgr_url=hwmgr_url,
                hwmgr_token=SecretStr(hwmgr_token),
                images_dir=settings.data_dir / "images",
                image_host=image_host,
                image_port=image_port,
                image_url=image_url,
                report_interval=report_interval,
                rescan_interval=rescan_interval,
            )
            return role, role.ready

        asyncio.run(_run("baremetal-agent", bus, make, health_port, health_host))
