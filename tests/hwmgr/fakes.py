"""An in-memory BMC fleet speaking hwmgr's ``BMCLike`` contract (until the emulators land)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from stockyard.hwmgr.bmcport import BMCTarget


class FakeBMCError(Exception):
    """Shaped like the BMC layer's ``BMCError(message)``."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class FakeMachine:
    power: str = "off"
    pxe_once: bool = False
    boots: list[str] = field(default_factory=list)
    passwords_seen: list[str] = field(default_factory=list)
    error: str | None = None  # every call raises this when set
    pxe_gate: asyncio.Event | None = None  # set_boot_pxe_once waits for it when given

    def boot(self) -> None:
        self.boots.append("pxe" if self.pxe_once else "disk")
        self.pxe_once = False
        self.power = "on"


class FakeBMC:
    def __init__(self, machine: FakeMachine, password: str) -> None:
        self.machine = machine
        self.password = password

    def _check(self) -> None:
        self.machine.passwords_seen.append(self.password)
        if self.machine.error:
            raise FakeBMCError(self.machine.error)
        if self.password != "s3cret-bmc-pw":
            raise FakeBMCError("authentication failed")

    async def power_state(self) -> str:
        self._check()
        await asyncio.sleep(0)
        return self.machine.power

    async def power_on(self) -> None:
        self._check()
        if self.machine.power == "off":
            self.machine.boot()

    async def power_off(self) -> None:
        self._check()
        self.machine.power = "off"

    async def power_cycle(self) -> None:
        self._check()
        self.machine.power = "off"
        self.machine.boot()

    async def set_boot_pxe_once(self) -> None:
        self._check()
        if self.machine.pxe_gate is not None:
            await self.machine.pxe_gate.wait()
        self.machine.pxe_once = True

    async def wait_power(self, state: str, timeout: float) -> None:  # noqa: ASYNC109
        self._check()
        if self.machine.power != state:
            raise FakeBMCError(f"power did not become {state} within {timeout} s")


class FakeFleet:
    """Machines keyed by BMC address:port/system; ``factory`` is a hwmgr BMC factory."""

    def __init__(self) -> None:
        self.machines: dict[str, FakeMachine] = {}

    @staticmethod
    def key(address: str, port: int, system_id: str | None) -> str:
        return f"{address}:{port}/{system_id}"

    def machine(self, address: str, port: int, system_id: str | None) -> FakeMachine:
        return self.machines.setdefault(self.key(address, port, system_id), FakeMachine())

    def factory(self, target: BMCTarget) -> FakeBMC:
        machine = self.machine(target.address, target.port, target.system_id)
        return FakeBMC(machine, target.password.get_secret_value())
