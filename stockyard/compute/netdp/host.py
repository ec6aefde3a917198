"""Bridges, taps and nftables on the host, through ``ip`` and ``nft`` in subprocesses.

Every call is idempotent (a spawn is resent after a crash): a bridge or tap that exists
is reused, a missing one is not an error on removal. One lock serialises the changes of
one :class:`Datapath`, so "last port of a network gone, delete its bridge" and "last port
of the host gone, delete the table" never race a plug.

Host hygiene: bridges and taps carry no addresses (IPv6 is disabled on them, so not even
a link-local one), and the ``input`` chain drops what guests send to the host, so a
tenant network never reaches the host itself.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

from stockyard.bus.contract import PortSpec
from stockyard.children import child_options
from stockyard.compute.drivers.base import DriverError
from stockyard.compute.netdp import nftables
from stockyard.compute.netdp.names import BRIDGE_PREFIX, bridge_name, tap_name

SYS_NET = Path("/sys/class/net")
PROC_IPV6 = Path("/proc/sys/net/ipv6/conf")


class DatapathError(DriverError):
    """The host could not apply a port (a missing tool, a refused command)."""


class Datapath:
    """The ports of one host. ``host`` names the host in error messages."""

    def __init__(self, host: str = "localhost", *, nft: str = "nft", ip: str = "ip") -> None:
        self.host = host
        self._tools = {"nft": nft, "ip": ip}
        self._lock = asyncio.Lock()

    # -- plumbing ----------------------------------------------------------------------

    def _exe(self, tool: str) -> str:
        exe = shutil.which(self._tools[tool]) or shutil.which(
            self._tools[tool], path="/usr/sbin:/sbin"
        )
        if exe is None:
            package = "nftables" if tool == "nft" else "iproute2"
            raise DatapathError(
                f"Cannot plug ports on host {self.host}: '{self._tools[tool]}' is not "
                f"installed (Debian package {package})."
            )
        return exe

    async def _run(self, tool: str, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(
            self._exe(tool),
            *args,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            **child_options(),
        )
        out, err = await proc.communicate(stdin.encode() if stdin is not None else None)
        rc = proc.returncode if proc.returncode is not None else -1
        return rc, out.decode(errors="replace"), err.decode(errors="replace").strip()

    async def _must(self, what: str, tool: str, *args: str, stdin: str | None = None) -> str:
        rc, out, err = await self._run(tool, *args, stdin=stdin)
        if rc != 0:
            first = err.splitlines()[0] if err else f"exit status {rc}"
            raise DatapathError(f"Cannot {what} on host {self.host}: {tool}: {first}")
        return out

    @staticmethod
    def _exists(dev: str) -> bool:
        return (SYS_NET / dev).exists()

    @staticmethod
    def _master(dev: str) -> str | None:
        link = SYS_NET / dev / "master"
        try:
            return link.resolve(strict=True).name
        except OSError:
            return None

    @staticmethod
    def _bridge_ports(bridge: str) -> list[str]:
        try:
            return sorted(p.name for p in (SYS_NET / bridge / "brif").iterdir())
        except OSError:
            return []

    @staticmethod
    def _no_ipv6(dev: str) -> None:
        knob = PROC_IPV6 / dev / "disable_ipv6"
        try:
            knob.write_text("1\n")
        except OSError:
            pass  # IPv6 off on the host altogether: nothing to disable

    # -- ports -------------------------------------------------------------------------

    async def plug(self, port: PortSpec) -> str:
        """Bridge, tap and filtering of ``port``; returns the tap's name."""
        tap = tap_name(port.id)
        bridge = bridge_name(port.network_id)
        async with self._lock:
            if not await asyncio.to_thread(self._exists, bridge):
                rc, _, err = await self._run("ip", "link", "add", "name", bridge, "type", "bridge")
                if rc != 0 and "exists" not in err:
                    raise DatapathError(f"Cannot create bridge {bridge} on host {self.host}: {err}")
            await asyncio.to_thread(self._no_ipv6, bridge)
            await self._must(f"bring up bridge {bridge}", "ip", "link", "set", bridge, "up")
            if not await asyncio.to_thread(self._exists, tap):
                await self._must(
                    f"create tap {tap}", "ip", "tuntap", "add", "dev", tap, "mode", "tap"
                )
            await asyncio.to_thread(self._no_ipv6, tap)
            # Rules first, then the link: the tap never forwards unfiltered.
            await self._apply(port)
            state = "up" if port.admin_state_up else "down"
            await self._must(
                f"plug tap {tap} into {bridge}",
                "ip", "link", "set", "dev", tap, "mtu", str(port.mtu), "master", bridge, state,
            )  # fmt: skip
        return tap

    async def apply(self, port: PortSpec) -> None:
        """Re-apply ``port``'s rules and admin state (a security group changed).

        A port not plugged here (no tap) is left alone: ``plug`` applies its rules when it
        comes, and rules for a tap nobody removes would outlive it.
        """
        tap = tap_name(port.id)
        self._exe("nft")  # a host without nft fails here, plugged port or not
        async with self._lock:
            if not await asyncio.to_thread(self._exists, tap):
                return
            await self._apply(port)
            state = "up" if port.admin_state_up else "down"
            await self._must(f"set tap {tap} {state}", "ip", "link", "set", tap, state)

    async def _apply(self, port: PortSpec) -> None:
        try:
            text = nftables.render_port(port)
        except ValueError as exc:
            raise DatapathError(
                f"Cannot apply the security rules of port {port.id} on host {self.host}: {exc}"
            ) from exc
        await self._must(
            f"apply the security rules of port {port.id}", "nft", "-f", "-", stdin=text
        )

    async def unplug(self, port_id: str, network_id: str | None = None) -> None:
        """Remove the port's tap, rules, and its bridge if no port is left on it."""
        await self.unplug_tap(tap_name(port_id), bridge_name(network_id) if network_id else None)

    async def unplug_tap(self, tap: str, bridge: str | None = None) -> None:
        """As :meth:`unplug`, by tap name (what a domain's XML records)."""
        async with self._lock:
            master = await asyncio.to_thread(self._master, tap)
            if await asyncio.to_thread(self._exists, tap):
                rc, _, err = await self._run("ip", "link", "del", "dev", tap)
                if rc != 0 and await asyncio.to_thread(self._exists, tap):
                    raise DatapathError(f"Cannot delete tap {tap} on host {self.host}: {err}")
            if await self._has_table():
                await self._must(
                    f"remove the rules of tap {tap}", "nft", "-f", "-",
                    stdin=nftables.render_remove(tap),
                )  # fmt: skip
                if not await self._table_ports():
                    await self._must("remove the stockyard nftables table", "nft", "-f", "-",
                                     stdin=nftables.render_drop_table())  # fmt: skip
            for br in {b for b in (master, bridge) if b and b.startswith(BRIDGE_PREFIX)}:
                if await asyncio.to_thread(self._exists, br) and not await asyncio.to_thread(
                    self._bridge_ports, br
                ):
                    rc, _, err = await self._run("ip", "link", "del", "dev", br)
                    if rc != 0 and await asyncio.to_thread(self._exists, br):
                        raise DatapathError(f"Cannot delete bridge {br} on host {self.host}: {err}")

    async def _has_table(self) -> bool:
        rc, _, _ = await self._run("nft", "list", "table", nftables.FAMILY, nftables.TABLE)
        return rc == 0

    async def _table_ports(self) -> list[str]:
        """The taps the table still filters (elements of its ``ports`` set)."""
        out = await self._must(
            "read the stockyard nftables table", "nft", "-j", "list", "set",
            nftables.FAMILY, nftables.TABLE, "ports",
        )  # fmt: skip
        for item in json.loads(out).get("nftables", []):
            if "set" in item:
                return [str(e) for e in item["set"].get("elem", [])]
        return []
