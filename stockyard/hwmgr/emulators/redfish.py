"""A Redfish BMC emulator for the lab and tests: sushy-tools' fake driver in a subprocess.

One process serves many systems on 127.0.0.1 and a free port, behind HTTP basic auth
(a bcrypt htpasswd file generated per run), with its state in a private temp dir.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Literal

import bcrypt
import httpx
from pydantic import SecretStr

from stockyard.children import child_options
from stockyard.hwmgr.emulators.faults import free_port


def _mac(index: int) -> str:
    return "52:54:00:{:02x}:{:02x}:{:02x}".format(*((index >> s) & 0xFF for s in (16, 8, 0)))


@dataclass
class SystemSpec:
    """One emulated server: its Redfish identity, starting power state and NICs."""

    name: str
    uuid: str = field(default_factory=lambda: str(uuid.uuid4()))
    power_state: Literal["On", "Off"] = "Off"
    macs: list[str] = field(default_factory=list)

    def as_config(self, index: int) -> dict[str, object]:
        macs = self.macs or [_mac(index)]
        return {
            "uuid": self.uuid,
            "name": self.name,
            "power_state": self.power_state,
            "external_notifier": False,
            "nics": [{"mac": mac, "ip": f"127.0.{index // 250}.{index % 250 + 2}"} for mac in macs],
        }


class RedfishEmulator:
    """``async with RedfishEmulator(systems) as emu:`` serves ``emu.url`` until exit.

    ``power_delay`` (whole seconds) fixes how long after accepting a reset the power
    state changes (sushy-tools' default is a random 1-11 s); ``None`` keeps upstream's.
    """

    def __init__(
        self,
        systems: list[SystemSpec],
        username: str = "admin",
        password: str | None = None,
        power_delay: int | None = 1,
        start_timeout: float = 30.0,
    ) -> None:
        if not systems:
            raise ValueError("RedfishEmulator needs at least one system")
        self.systems = systems
        self.username = username
        self.password = SecretStr(password or secrets.token_urlsafe(12))
        self.power_delay = power_delay
        self.start_timeout = start_timeout
        self.host = "127.0.0.1"
        self.port = 0
        self._dir: Path | None = None
        self._proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:41234``."""
        return f"http://{self.host}:{self.port}"

    def system_path(self, spec: SystemSpec) -> str:
        """The Redfish path of ``spec``'s ComputerSystem."""
        return f"/redfish/v1/Systems/{spec.uuid}"

    @property
    def log_path(self) -> Path | None:
        """Where the emulator's output goes (useful when a test fails)."""
        return None if self._dir is None else self._dir / "emulator.log"

    def _write_config(self, directory: Path) -> Path:
        auth = directory / "htpasswd"
        digest = bcrypt.hashpw(self.password.get_secret_value().encode(), bcrypt.gensalt(4))
        auth.write_text(f"{self.username}:{digest.decode()}\n")
        auth.chmod(0o600)
        config = {
            "SUSHY_EMULATOR_LISTEN_IP": self.host,
            "SUSHY_EMULATOR_LISTEN_PORT": self.port,
            "SUSHY_EMULATOR_FAKE_DRIVER": True,
            "SUSHY_EMULATOR_FAKE_SYSTEMS": [s.as_config(i) for i, s in enumerate(self.systems)],
            "SUSHY_EMULATOR_AUTH_FILE": str(auth),
            # Per-run state: the default (/tmp/sushy-emulator) is shared by every run.
            "SUSHY_EMULATOR_STATE_DIR": str(directory / "state"),
            "EXTERNAL_NOTIFICATION_URL": "http://127.0.0.1:9/",
        }
        path = directory / "emulator.conf"
        path.write_text("".join(f"{k} = {v!r}\n" for k, v in config.items()))
        return path

    async def start(self) -> None:
        """Start the subprocess and wait until it answers on ``url``."""
        self._dir = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="stockyard-sushy-"))
        self.port = free_port()
        config = await asyncio.to_thread(self._write_config, self._dir)
        env = dict(os.environ)
        if self.power_delay is not None:
            env["STOCKYARD_SUSHY_POWER_DELAY"] = str(self.power_delay)
        log = await asyncio.to_thread(open, self._dir / "emulator.log", "wb")
        with log:
            self._proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "stockyard.hwmgr.emulators._sushy_run",
                "--config",
                str(config),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                env=env,
                **child_options(),  # ends with this process, also on SIGKILL
            )
        try:
            await self._wait_ready()
        except BaseException:
            await self.stop()
            raise

    async def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        async with httpx.AsyncClient(timeout=2.0) as client:
            while True:
                assert self._proc is not None
                if self._proc.returncode is not None:
                    raise RuntimeError(
                        f"sushy-emulator exited with {self._proc.returncode}: {self._log_tail()}"
                    )
                try:
                    response = await client.get(f"{self.url}/redfish/v1/")
                    if response.status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"sushy-emulator did not answer: {self._log_tail()}")
                await asyncio.sleep(0.1)

    def _log_tail(self) -> str:
        path = self.log_path
        if path is None or not path.exists():
            return ""
        return path.read_text(errors="replace")[-2000:]

    async def stop(self) -> None:
        """Stop the subprocess (terminate, then kill) and remove its files."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.returncode is None:
            proc.terminate()
            try:
                async with asyncio.timeout(5):
                    await proc.wait()
            except TimeoutError:
                proc.kill()
                await proc.wait()
        if self._dir is not None:
            await asyncio.to_thread(shutil.rmtree, self._dir, True)
            self._dir = None

    async def __aenter__(self) -> RedfishEmulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
