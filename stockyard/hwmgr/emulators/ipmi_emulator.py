"""``IpmiEmulator``: many IPMI BMC endpoints on 127.0.0.1, each on its own UDP port,
hosted by one helper process (see ``stockyard.hwmgr.emulators.ipmi`` for why)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys
from types import TracebackType
from typing import Any

from stockyard.children import child_options
from stockyard.hwmgr.emulators.ipmi import IpmiNodeSpec


class IpmiEmulator:
    """``async with IpmiEmulator(nodes) as emu:`` -> ``emu.port(name)``,
    ``await emu.state(name)`` (power, bootdev, boot_persistent, last_boot, calls) and
    ``await emu.set(name, field, value)`` (e.g. ``"unresponsive", True``)."""

    def __init__(
        self, nodes: list[IpmiNodeSpec], address: str = "127.0.0.1", start_timeout: float = 30
    ) -> None:
        names = [n.name for n in nodes]
        if not nodes or len(set(names)) != len(names):
            raise ValueError("IpmiEmulator needs nodes with unique names")
        self.nodes = {n.name: n for n in nodes}
        self.address = address
        self.start_timeout = start_timeout
        self.ports: dict[str, int] = {}
        self._proc: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()

    def port(self, name: str) -> int:
        """The UDP port of node ``name``'s BMC."""
        return self.ports[name]

    async def start(self) -> None:
        """Start the helper process and wait for its ports."""
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "stockyard.hwmgr.emulators._ipmi_run",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            **child_options(),  # ends with this process, also on SIGKILL
        )
        nodes = []
        for spec in self.nodes.values():
            raw = dataclasses.asdict(spec)
            raw["password"] = spec.password.get_secret_value()
            nodes.append(raw)
        try:
            async with asyncio.timeout(self.start_timeout):
                reply = await self._request({"address": self.address, "nodes": nodes})
        except BaseException:
            await self.stop()
            raise
        self.ports = {str(k): int(v) for k, v in reply["ports"].items()}

    async def _request(self, message: dict[str, Any]) -> dict[str, Any]:
        proc = self._proc
        if proc is None or proc.stdin is None or proc.stdout is None:
            raise RuntimeError("IPMI emulator is not running")
        async with self._lock:
            proc.stdin.write(json.dumps(message).encode() + b"\n")
            await proc.stdin.drain()
            line = await proc.stdout.readline()
        if not line:
            raise RuntimeError(f"IPMI emulator exited ({proc.returncode})")
        reply: dict[str, Any] = json.loads(line)
        if "error" in reply:
            raise ValueError(reply["error"])
        return reply

    async def state(self, name: str) -> dict[str, Any]:
        """What node ``name``'s BMC holds now."""
        return await self._request({"op": "state", "name": name})

    async def set(self, name: str, field: str, value: Any) -> dict[str, Any]:
        """Change node ``name``'s BMC (unresponsive, power, bootdev, boot_persistent)."""
        return await self._request({"op": "set", "name": name, "field": field, "value": value})

    async def stop(self) -> None:
        """Close stdin (the helper exits), then make sure it is gone."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None and not proc.stdin.is_closing():
            proc.stdin.close()
        try:
            async with asyncio.timeout(5):
                await proc.wait()
        except TimeoutError:
            proc.kill()
            await proc.wait()

    async def __aenter__(self) -> IpmiEmulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
