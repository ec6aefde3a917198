"""All roles in one process: what ``stockyard up`` runs.

Order matters: schema, seed, lab enrollment, conductor (it loads host state), agents
(they report to the conductor), then the API, so the first request finds a ready cloud.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from sqlalchemy import select

from stockyard.api.app import create_app
from stockyard.api.state import APIState
from stockyard.bus.base import Bus
from stockyard.bus.memory import MemoryBus
from stockyard.cli.clouds import choose_passwords, write_clouds_yaml
from stockyard.db.base import Database
from stockyard.db.migrate import upgrade
from stockyard.db.models import Flavor, Region
from stockyard.identity.bootstrap import bootstrap
from stockyard.identity.tokens import TokenService
from stockyard.settings import Settings

log = logging.getLogger("stockyard.up")

DEFAULT_FLAVORS = (("m1.tiny", "1", 1, 512, 1),)


def make_bus(settings: Settings) -> Bus:
    if settings.bus_url.startswith("memory"):
        return MemoryBus()
    raise SystemExit(f"bus_url {settings.bus_url!r}: only memory:// is supported so far")


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

    async def prepare(self) -> None:
        """Schema, seed, lab, conductor and agents; the API is built but not serving."""
        s = self.settings
        s.data_dir.mkdir(parents=True, exist_ok=True)
        await upgrade(s.effective_database_url)
        self.db = Database(s.effective_database_url)
        self.bus = make_bus(s)
        await self.bus.start()
        admin_pw, demo_pw = choose_passwords(s)
        async with self.db.session() as session:
            seeded = await bootstrap(session, admin_pw, demo_pw)
            await self._seed_flavors(session)
            from stockyard.image.defaults import register_default_image
            from stockyard.image.store import ImageStore

            await register_default_image(
                session, ImageStore(s.data_dir / "images"), seeded.admin_project_id
            )
        from stockyard.lab.enroll import enroll
        from stockyard.lab.model import load_lab

        lab = load_lab(s.lab_file)
        async with self.db.session() as session:
            await enroll(session, lab, s)
        async with self.db.session() as session:
            self.regions = list((await session.scalars(select(Region.id))).all()) or ["RegionOne"]
        from stockyard.conductor.service import Conductor

        conductor = Conductor(self.db, self.bus, s)
        await conductor.start()
        self._stoppables.append(conductor)
        from stockyard.lab.runtime import start_lab_agents

        pool = await start_lab_agents(lab, self.bus, s)
        self._stoppables.append(pool)
        self.state = APIState(
            settings=s, db=self.db, tokens=TokenService(s.token_ttl_seconds), bus=self.bus
        )
        self.state.regions = self.regions
        self.clouds_yaml = str(write_clouds_yaml(s, admin_pw, demo_pw, self.regions[0]).resolve())

    async def _seed_flavors(self, session: Any) -> None:
        for name, flavorid, vcpus, ram, disk in DEFAULT_FLAVORS:
            if await session.scalar(select(Flavor.id).where(Flavor.name == name)) is None:
                session.add(Flavor(flavorid=flavorid, name=name, vcpus=vcpus, ram=ram, disk=disk))

    async def serve(self, ready: asyncio.Event | None = None) -> None:
        """Serve the API until stopped (Ctrl-C or ``stop``)."""
        app = create_app(self.state)
        config = uvicorn.Config(
            app,
            host=self.settings.api_host,
            port=self.settings.api_port,
            log_level=self.settings.log_level.lower(),
            access_log=False,
            lifespan="off",
        )
        self._server = uvicorn.Server(config)
        serve_task = asyncio.create_task(self._server.serve())
        # uvicorn exposes no "started" event, only a flag.
        while not self._server.started and not serve_task.done():  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        if ready is not None:
            ready.set()
        await serve_task

    async def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        for item in reversed(self._stoppables):
            await item.stop()
        await self.bus.close()
        await self.db.dispose()
