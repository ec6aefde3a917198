"""The libvirt driver's power verbs: states, power on/off (ACPI first), reboot."""

from __future__ import annotations

import asyncio
from typing import Any

import libvirt

from stockyard.compute.drivers.base import InstanceSpec, PowerState
from stockyard.compute.drivers.libvirt.domain import DOMAIN_PREFIX
from stockyard.compute.drivers.libvirt.ports import PortsMixin

_POWER_STATES = {
    libvirt.VIR_DOMAIN_NOSTATE: PowerState.NOSTATE,
    libvirt.VIR_DOMAIN_RUNNING: PowerState.RUNNING,
    libvirt.VIR_DOMAIN_BLOCKED: PowerState.RUNNING,
    libvirt.VIR_DOMAIN_PAUSED: PowerState.PAUSED,
    libvirt.VIR_DOMAIN_SHUTDOWN: PowerState.RUNNING,  # still running while it shuts down
    libvirt.VIR_DOMAIN_SHUTOFF: PowerState.SHUTDOWN,
    libvirt.VIR_DOMAIN_CRASHED: PowerState.CRASHED,
    libvirt.VIR_DOMAIN_PMSUSPENDED: PowerState.SUSPENDED,
}
_POLL_SECONDS = 0.2


def _power_state(dom: Any) -> PowerState:
    state, _reason = dom.state()
    return _POWER_STATES.get(state, PowerState.NOSTATE)


class PowerMixin(PortsMixin):
    """Power verbs of :class:`~stockyard.compute.drivers.libvirt.driver.LibvirtDriver`;
    on the ports mixin since powering on plugs the ports again."""

    shutdown_timeout: float

    async def reboot(self, instance: InstanceSpec, hard: bool) -> None:
        dom = await self._domain(instance)
        if not hard and await self._run(dom.isActive):
            # As Nova: a clean ACPI shutdown (pulled after shutdown_timeout), then boot.
            await self.power_off(instance)
        elif await self._run(dom.isActive):
            await self._run(dom.reset)
            return
        await self._run(self._start, dom)

    async def power_on(self, instance: InstanceSpec) -> None:
        dom = await self._domain(instance)
        await self._plug_ports(instance)  # the taps do not survive a host restart
        await self._run(self._start, dom)

    async def power_off(self, instance: InstanceSpec) -> None:
        dom = await self._domain(instance)
        if not await self._run(dom.isActive):
            return
        await self._run(dom.shutdown)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.shutdown_timeout
        while loop.time() < deadline:
            if not await self._run(dom.isActive):
                return
            await asyncio.sleep(_POLL_SECONDS)
        # The guest ignored the ACPI request: pull the plug, as Nova does.
        if await self._run(dom.isActive):
            await self._run(dom.destroy)

    async def list_instances(self) -> dict[str, PowerState]:
        def states() -> dict[str, PowerState]:
            found: dict[str, PowerState] = {}
            for dom in self._connection().listAllDomains():
                name = dom.name()
                if not name.startswith(DOMAIN_PREFIX):
                    continue
                try:
                    found[name[len(DOMAIN_PREFIX) :]] = _power_state(dom)
                except libvirt.libvirtError as exc:
                    # Undefined between the listing and the read (a delete, another
                    # agent on the host): it is gone, which is what a fresh list says.
                    if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                        raise
            return found

        return await self._run(states)

    async def get_power_state(self, instance: InstanceSpec) -> PowerState:
        dom = await self._domain(instance)
        return await self._run(_power_state, dom)
