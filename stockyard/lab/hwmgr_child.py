"""One region's hwmgr and its emulated installer, in a process of their own.

``stockyard up`` used to run each region's hwmgr in its own process and event loop.
Measured with ``bench/bench_baremetal.py``: once the cloud's SQLite work got cheaper,
hwmgr's share of that one loop (its API, task runner, BMC clients and its own SQLite)
became the queue, with a second core idle. In production hwmgr is a service of its own
per region (``stockyard hwmgr``); the lab now runs it that way too, with the emulated
installer beside it (the installer answers hwmgr's PXE boots, as a machine's ramdisk
would, so it lives where hwmgr's observers are).

The parent talks to the child over its stdin and stdout, one JSON document per line:
the settings first (a pipe, not argv or the environment: the token is a secret), then
commands; the child answers each line with one line. Closing stdin stops the child, and
the child also ends with its parent (:mod:`stockyard.children`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
from collections.abc import Iterable
from typing import Any

from stockyard.children import child_options
from stockyard.hwmgr.settings import HwmgrSettings

log = logging.getLogger(__name__)

# Start-up includes hwmgr's migrations on a new data directory: generous on a busy box.
START_TIMEOUT = 120.0
STOP_TIMEOUT = 20.0


class HwmgrChildError(RuntimeError):
    """The child did not start, or did not answer a command."""


class HwmgrChild:
    """The parent's handle on one region's hwmgr process (see the module doc)."""

    def __init__(self, proc: asyncio.subprocess.Process, url: str) -> None:
        self._proc = proc
        self.url = url

    @classmethod
    async def start(
        cls, settings: HwmgrSettings, *, install_seconds: float, host_id: str
    ) -> HwmgrChild:
        """Start hwmgr with ``settings`` (tasks left by a previous run wait for
        :meth:`resume`); returns once its API listens."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "stockyard.lab.hwmgr_child",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            **child_options(),
        )
        config = {
            "settings": _plain(settings),
            "install_seconds": install_seconds,
            "host_id": host_id,
        }
        child = cls(proc, "")
        try:
            answer = await child._ask(config, START_TIMEOUT)
        except BaseException:
            await child.stop()
            raise
        child.url = str(answer["url"])
        return child

    async def resume(self) -> None:
        """Resume the tasks a previous process left (the nodes now point at this run's
        BMC endpoints); installs that were under way start over."""
        await self._ask({"command": "resume"}, START_TIMEOUT)

    async def set_installer(
        self,
        *,
        fail: bool = False,
        never_call_back: bool = False,
        fail_nodes: Iterable[str] = (),
        silent_nodes: Iterable[str] = (),
    ) -> None:
        """Fault injection: the emulated installer's failures (as
        :class:`~stockyard.hwmgr.installer_emulator.InstallerEmulator`'s attributes:
        every install fails or goes silent, or those of these nodes' uuids). Each call
        replaces all the faults of the one before."""
        faults = {
            "fail": fail,
            "never_call_back": never_call_back,
            "fail_nodes": sorted(fail_nodes),
            "silent_nodes": sorted(silent_nodes),
        }
        await self._ask({"command": "installer", **faults}, 30.0)

    async def stop(self) -> None:
        """Stop hwmgr (recorded states stay for the next start)."""
        proc = self._proc
        if proc.returncode is not None:
            return
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            async with asyncio.timeout(STOP_TIMEOUT):
                await proc.wait()
        except TimeoutError:
            log.warning("hwmgr child %d did not stop within %.0f s; killed", proc.pid, STOP_TIMEOUT)
            proc.kill()
            await proc.wait()

    async def _ask(self, request: dict[str, Any], within: float) -> dict[str, Any]:
        proc = self._proc
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(json.dumps(request).encode() + b"\n")
        try:
            async with asyncio.timeout(within):
                await proc.stdin.drain()
                line = await proc.stdout.readline()
        except TimeoutError:
            raise HwmgrChildError(f"hwmgr child gave no answer within {within:.0f} s") from None
        if not line:
            code = await proc.wait()
            raise HwmgrChildError(f"hwmgr child exited ({code}); its log is above")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise HwmgrChildError(f"hwmgr child: {answer['error']}")
        return answer


def _plain(settings: HwmgrSettings) -> dict[str, Any]:
    values = settings.model_dump(mode="json")
    for name in ("token", "secret_key"):
        secret = getattr(settings, name, None)
        if secret is not None:
            values[name] = secret.get_secret_value()
    return values


# --- the child ---------------------------------------------------------------------------


async def _serve() -> None:
    from stockyard.compute.drivers.baremetal_client import HwmgrClient
    from stockyard.hwmgr.installer_emulator import InstallerEmulator
    from stockyard.hwmgr.service import HwmgrService

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    # The answers get stdout to themselves: anything else printed goes to stderr, with
    # the logs.
    channel = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())

    def answer(body: dict[str, Any]) -> None:
        channel.write(json.dumps(body) + "\n")
        channel.flush()

    config = json.loads(await reader.readline())
    settings = HwmgrSettings.model_validate(config["settings"])
    logging.basicConfig(
        level=settings.log_level.upper(),
        format=f"%(asctime)s %(levelname)s hwmgr-{settings.region} %(name)s %(message)s",
    )
    installer = InstallerEmulator(
        "http://127.0.0.1:1", install_seconds=float(config["install_seconds"])
    )
    service = HwmgrService(settings, observers=[installer], host_id=str(config["host_id"]))
    try:
        await service.start(resume_tasks=False)
        installer.hwmgr_url = service.url
        answer({"url": service.url})
        while line := await reader.readline():
            request = json.loads(line)
            command = request.get("command")
            try:
                if command == "resume":
                    await service.resume_tasks()
                    # A machine that was installing when the last run stopped kept
                    # installing: the emulated one (gone with that run) starts over.
                    client = HwmgrClient(service.url, settings.token.get_secret_value())
                    try:
                        for task in await client.tasks(state="installing"):
                            await installer.on_pxe_boot(str(task["node_uuid"]))
                    finally:
                        await client.close()
                elif command == "installer":
                    installer.fail = bool(request["fail"])
                    installer.never_call_back = bool(request["never_call_back"])
                    installer.fail_nodes = set(request["fail_nodes"])
                    installer.silent_nodes = set(request["silent_nodes"])
                else:
                    raise ValueError(f"unknown command {command!r}")
            except Exception as exc:
                log.exception("hwmgr child: %s failed", command)
                answer({"error": f"{command}: {exc}"})
                continue
            answer({"ok": True})
    finally:
        await service.stop()
        await installer.close()


def main() -> None:
    """``python -m stockyard.lab.hwmgr_child`` (started by :class:`HwmgrChild`)."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve())


if __name__ == "__main__":
    main()
