"""One node's face of the shared ``BaremetalDriver``, for that node's ``ComputeAgent``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from stockyard.compute.drivers.base import ComputeDriver, HostResources, InstanceSpec, PowerState

if TYPE_CHECKING:
    from stockyard.compute.drivers.baremetal import BaremetalDriver


class BaremetalNodeDriver(ComputeDriver):
    """One node of a ``BaremetalDriver``: what that node's ``ComputeAgent`` talks to.

    The node is the agent's host, whatever the op's instance dict says. ``close`` does
    nothing: the shared driver is closed once, by whoever built it.
    """

    name = "baremetal"

    def __init__(self, shared: BaremetalDriver, node: str) -> None:
        self.shared = shared
        self.node = node

    async def spawn(self, instance: InstanceSpec) -> None:
        await self.shared.spawn_on(self.node, instance)

    async def destroy(self, instance: InstanceSpec) -> None:
        await self.shared.destroy_on(self.node, instance)

    async def reboot(self, instance: InstanceSpec, hard: bool) -> None:
        await self.shared.reboot_on(self.node, instance, hard)

    async def power_on(self, instance: InstanceSpec) -> None:
        await self.shared.power_on_on(self.node, instance)

    async def power_off(self, instance: InstanceSpec) -> None:
        await self.shared.power_off_on(self.node, instance)

    async def rebuild(self, instance: InstanceSpec, *, stopped: bool = False) -> None:
        await self.shared.rebuild_on(self.node, instance, stopped=stopped)

    async def get_resources(self) -> HostResources:
        return await self.shared.resources_of(self.node)

    async def list_instances(self) -> dict[str, PowerState]:
        return await self.shared.instances_on(self.node)

    async def get_power_state(self, instance: InstanceSpec) -> PowerState:
        return await self.shared.power_state_on(self.node, instance)
