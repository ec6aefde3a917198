"""The compute driver contract: what an agent may ask of a hypervisor or a baremetal cluster.

A driver owns one host (a hypervisor) or one cluster of nodes. Every verb is ``async``;
a driver that must block (libvirt, IPMI) moves the call to a thread itself.

Every verb is idempotent, because the conductor's reconciler resends an op after a crash:
``spawn`` of a guest that already runs succeeds, ``destroy`` of an unknown guest succeeds,
``power_off`` of a guest that is off succeeds.

Errors: a driver raises ``DriverError`` (or a subclass) with a message written for the
user; the agent puts that message in the op result and the conductor makes it the fault.
Anything else a driver raises is a bug and is reported as an internal error.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from stockyard.bus.contract import InstanceSpec, PortSpec, VolumeAttachmentSpec

__all__ = [
    "ComputeDriver",
    "DriverError",
    "DriverNotSupported",
    "HostResources",
    "InstanceNotFound",
    "InstanceSpec",
    "PortSpec",
    "PowerState",
    "VolumeAttachmentSpec",
]


class PowerState(IntEnum):
    """A guest's power state as drivers report it (Nova's numbering)."""

    NOSTATE = 0
    RUNNING = 1
    PAUSED = 3
    SHUTDOWN = 4
    CRASHED = 6
    SUSPENDED = 7


class DriverError(Exception):
    """A driver call failed; ``message`` is fit to show to the user as the fault."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InstanceNotFound(DriverError):
    """The guest does not exist on this host."""

    def __init__(self, instance_uuid: str, host: str | None = None) -> None:
        where = f" on host {host}" if host else ""
        super().__init__(f"Instance {instance_uuid} could not be found{where}.")
        self.instance_uuid = instance_uuid


class DriverNotSupported(DriverError, NotImplementedError):
    """The driver does not implement an optional verb."""


@dataclass(frozen=True, slots=True)
class HostResources:
    """Total capacity of the host as the driver sees it (not what is claimed)."""

    vcpus: int
    memory_mb: int
    local_gb: int
    hypervisor_type: str
    hypervisor_version: int = 0


class ComputeDriver(ABC):
    """One hypervisor (or baremetal cluster) as seen by its compute agent.

    Core verbs are abstract; optional verbs have a default that raises
    ``DriverNotSupported``. Implementations must be idempotent (see the module docstring).
    """

    #: Registry name of the driver ("fake", "libvirt", "baremetal").
    name: str = ""

    @abstractmethod
    async def spawn(self, instance: InstanceSpec) -> None:
        """Create and start the guest from ``instance.image_ref``.

        Returns once the guest runs. A guest that already exists is started if needed and
        is otherwise left alone. Raise ``DriverError`` if the guest cannot be started; the
        driver cleans up what it created so that a reschedule elsewhere leaves no debris.
        """

    @abstractmethod
    async def destroy(self, instance: InstanceSpec) -> None:
        """Stop the guest and delete it with its disks. An unknown guest is a success."""

    @abstractmethod
    async def reboot(self, instance: InstanceSpec, hard: bool) -> None:
        """Restart the guest: ``hard`` resets it, otherwise the guest OS is asked to.

        A guest that is shut down is started. Raise ``InstanceNotFound`` if it is unknown.
        """

    @abstractmethod
    async def power_on(self, instance: InstanceSpec) -> None:
        """Start a stopped guest; a running one is left alone."""

    @abstractmethod
    async def power_off(self, instance: InstanceSpec) -> None:
        """Stop a running guest; a stopped one is left alone."""

    @abstractmethod
    async def rebuild(self, instance: InstanceSpec, *, stopped: bool = False) -> None:
        """Give the guest a fresh root disk from ``instance.image_ref`` and boot it.

        ``stopped``: the server is STOPPED, and the guest is left shut down afterwards
        (Nova returns a rebuilt server to its original state). Otherwise the guest runs
        afterwards even if it was off before: the caller's state, not the old guest's
        power, decides. A guest that does not exist (a build that failed before) is
        created, so that an instance in ERROR can be rebuilt.
        """

    @abstractmethod
    async def get_resources(self) -> HostResources:
        """Total capacity and hypervisor identity of the host."""

    @abstractmethod
    async def list_instances(self) -> dict[str, PowerState]:
        """Power state of every guest on the host, by instance uuid."""

    @abstractmethod
    async def get_power_state(self, instance: InstanceSpec) -> PowerState:
        """Power state of one guest; raise ``InstanceNotFound`` if it is unknown."""

    async def get_console_output(self, instance: InstanceSpec, length: int | None) -> str:
        """The last ``length`` lines (all if None) of the guest's serial console."""
        raise DriverNotSupported(f"The {self.name or 'compute'} driver has no console log.")

    async def get_instance_metadata(self, instance: InstanceSpec) -> dict[str, str]:
        """Server metadata only the host knows (e.g. ``ssh_endpoint``); ``{}`` if none.

        The agent adds it to spawn and rebuild results; the conductor merges it into the
        server's metadata, so users find it in ``openstack server show``.
        """
        return {}

    async def get_addresses(self, instance: InstanceSpec) -> dict[str, list[dict[str, Any]]]:
        """Addresses the guest has on host-local networks, in Nova's ``addresses`` shape.

        ``{}`` if none. Merged next to the provider-network addresses the conductor
        allocated; it never replaces them.
        """
        return {}

    async def cache_image(self, image_id: str) -> bool:
        """Fetch image ``image_id`` into this host's image cache, so that a later spawn
        from it does not wait for the download (aggregate image pre-caching, 2.81).

        Returns ``True`` if the image was fetched now, ``False`` if it was cached already.
        Raise ``DriverError`` if this image cannot be cached; a driver without an image
        cache (baremetal: the node's deploy pulls the image itself) keeps this default,
        and the agent logs the request as unsupported, as Nova's compute manager does.
        """
        raise DriverNotSupported(f"The {self.name or 'compute'} driver does not cache images.")

    # -- networking: ``instance.ports`` are plugged by ``spawn``/``rebuild``; these verbs
    # change a running guest. A driver without a datapath (emulated hosts) keeps the
    # defaults that succeed: the API and IPAM are the same, nothing is plugged.

    async def attach_interface(self, instance: InstanceSpec, port: PortSpec) -> None:  # noqa: B027
        """Plug ``port`` into the guest (hot-plug); plugging a plugged port succeeds."""

    async def detach_interface(self, instance: InstanceSpec, port_id: str) -> None:  # noqa: B027
        """Unplug port ``port_id`` from the guest; an unknown port is a success."""

    async def update_ports(self, instance: InstanceSpec) -> None:  # noqa: B027
        """Re-apply ``instance.ports``' security rules and admin state on the host.

        Called when a rule, a group's membership or a port changes. Raise ``DriverError``
        when the host cannot apply it; the port is then reported ``DOWN`` with the reason.
        """

    # -- block storage: ``instance.volumes`` with ``boot_index`` 0 is the root disk at
    # ``spawn``; the others are attached by ``spawn`` too (after a rebuild or a restart).

    async def attach_volume(self, instance: InstanceSpec, volume: VolumeAttachmentSpec) -> None:
        """Attach ``volume`` to the guest live; an attached volume is a success."""
        raise DriverNotSupported(f"The {self.name or 'compute'} driver cannot attach volumes.")

    async def detach_volume(
        self, instance: InstanceSpec, volume: VolumeAttachmentSpec, wait_s: float
    ) -> None:
        """Detach ``volume``; wait up to ``wait_s`` seconds for the guest to release it.

        A volume that is not attached is a success. Raise ``DriverError`` saying so when
        the guest never releases the device (the volume stays attached, nothing is lost).
        """
        raise DriverNotSupported(f"The {self.name or 'compute'} driver cannot detach volumes.")

    async def close(self) -> None:  # noqa: B027  (optional hook, empty on purpose)
        """Release connections; called once when the agent stops."""
