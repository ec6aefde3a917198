"""The hwmgr service: migrate, open the database, run tasks, serve the API.

``HwmgrService(settings).start()`` returns once the API listens (``.url`` tells where,
useful with ``port=0``); ``stop()`` stops serving and driving, leaving every task's
recorded state for the next start to resume.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket

import uvicorn

from stockyard.db.base import Database
from stockyard.hwmgr.api.app import create_app
from stockyard.hwmgr.api.state import HwmgrState
from stockyard.hwmgr.bmcport import BMCFactory, bmc_factory_with
from stockyard.hwmgr.crypto import SecretBox, load_key
from stockyard.hwmgr.images import ImageCache
from stockyard.hwmgr.migrate import upgrade
from stockyard.hwmgr.powersync import PowerSync
from stockyard.hwmgr.settings import HwmgrSettings
from stockyard.hwmgr.tasks.runner import BootObserver, TaskRunner

log = logging.getLogger(__name__)


class HwmgrService:
    """One region's hardware manager in the current event loop."""

    def __init__(
        self,
        settings: HwmgrSettings,
        *,
        bmc_factory: BMCFactory | None = None,
        observers: list[BootObserver] | None = None,
        host_id: str | None = None,
    ) -> None:
        self.settings = settings
        # Default: the real BMC clients with the retry policy of the settings.
        self.bmc_factory = bmc_factory or bmc_factory_with(
            settings.bmc_call_timeout_seconds, settings.bmc_attempts
        )
        # The power sync tries each read once: its next pass is the retry, and a dead
        # BMC must not hold one of its few workers for several call timeouts.
        self.sync_bmc_factory = bmc_factory or bmc_factory_with(
            settings.bmc_call_timeout_seconds, 1
        )
        self.observers = list(observers or [])
        self.host_id = host_id or socket.gethostname()
        self.state: HwmgrState | None = None
        self.power_sync: PowerSync | None = None
        self.url = ""
        self._server: uvicorn.Server | None = None
        self._serve: asyncio.Task[None] | None = None

    async def start(self, *, resume_tasks: bool = True) -> None:
        """Migrate, open the DB, resume tasks and serve the API (returns once listening).

        ``resume_tasks=False``: tasks a previous process left wait for
        :meth:`resume_tasks` (the lab first points nodes at its new BMC endpoints)."""
        s = self.settings
        s.data_dir.mkdir(parents=True, exist_ok=True)
        await upgrade(s.effective_database_url)
        db = Database(s.effective_database_url, **s.database_engine_options())
        box = SecretBox(load_key(s.secret_key, s.data_dir))
        images = ImageCache(s.image_cache_dir)
        runner = TaskRunner(
            db,
            box,
            images,
            bmc_factory=self.bmc_factory,
            deadline_seconds=s.install_deadline_seconds,
            max_concurrent=s.max_concurrent_tasks,
            power_timeout=s.power_timeout_seconds,
            lease_seconds=s.lock_lease_seconds,
            host_id=self.host_id,
        )
        for observer in self.observers:
            runner.add_observer(observer)
        self.state = HwmgrState(
            settings=s,
            db=db,
            box=box,
            images=images,
            runner=runner,
            bmc_factory=self.bmc_factory,
            host_id=self.host_id,
        )
        config = uvicorn.Config(
            create_app(self.state),
            host=s.host,
            port=s.port,
            log_level=s.log_level.lower(),
            access_log=False,
            lifespan="off",
            # Its clients (httpx) drop an idle connection after 5 s, uvicorn's default too:
            # the server must hold longer so that the client is always the side to close.
            timeout_keep_alive=75,
        )
        self._server = uvicorn.Server(config)
        self._serve = asyncio.create_task(self._server.serve())
        # uvicorn exposes no "started" event, only a flag.
        while not self._server.started and not self._serve.done():  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        if self._serve.done():
            await self._serve
            raise RuntimeError(f"hwmgr API could not listen on {s.host}:{s.port}")
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://{s.host}:{port}"
        # Resume only once the API listens: resumed installers must reach the call-back.
        await runner.start(resume=resume_tasks)
        self.power_sync = PowerSync(
            db,
            box,
            self.sync_bmc_factory,
            interval=s.power_sync_interval_seconds,
            workers=s.power_sync_workers,
        )
        self.power_sync.start()
        log.info("hwmgr for %s listening on %s", s.region, self.url)

    async def resume_tasks(self) -> list[str]:
        """Resume the tasks a previous process left (after ``start(resume_tasks=False)``)."""
        return await self.runner.resume()

    @property
    def runner(self) -> TaskRunner:
        assert self.state is not None, "start() first"
        return self.state.runner

    async def stop(self) -> None:
        """Stop serving and driving tasks; recorded states stay for the next start."""
        if self._server is not None:
            self._server.should_exit = True
        if self._serve is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._serve
        if self.power_sync is not None:
            await self.power_sync.stop()
            self.power_sync = None
        if self.state is not None:
            await self.state.runner.stop()
            await self.state.db.dispose()
        self._server = None
        self._serve = None

    async def serve_forever(self) -> None:
        """Until SIGINT/SIGTERM (console use)."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        assert self._serve is not None
        await asyncio.wait(
            [asyncio.create_task(stop.wait()), self._serve],
            return_when=asyncio.FIRST_COMPLETED,
        )


async def main(settings: HwmgrSettings | None = None, *, lab_installer: bool = False) -> None:
    """Console entry: ``asyncio.run(main())`` serves hwmgr until interrupted.

    With ``lab_installer`` an in-process emulated installer answers every PXE boot.
    """
    settings = settings or HwmgrSettings()
    service = HwmgrService(settings)
    installer = None
    if lab_installer:
        from stockyard.hwmgr.installer_emulator import InstallerEmulator

        installer = InstallerEmulator(settings.public_url or f"http://{settings.host}:0")
        service.observers.append(installer)
    await service.start()
    if installer is not None and not settings.public_url:
        installer.hwmgr_url = service.url
    try:
        await service.serve_forever()
    finally:
        await service.stop()
        if installer is not None:
            await installer.close()
