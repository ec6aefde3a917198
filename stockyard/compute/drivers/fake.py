"""An emulated hypervisor kept in memory, for ``stockyard up``, tests and benchmarks.

Guests are records (power state, image, boot count, console lines); booting costs
``boot_seconds`` of ``asyncio.sleep`` so thousands of fake hosts share one event loop.

Failure injection:

- ``fail_spawn``: ``True`` fails every spawn, a float in [0, 1] fails that share of
  spawns (drawn from a ``random.Random(seed)``, so a seeded lab fails the same guests);
- instance metadata ``fake:fail_spawn = "true"`` fails the spawn of that instance;
- instance metadata ``fake:fail_on_hosts = "hv1,hv2"`` fails it only on those hosts, so a
  reschedule to another host succeeds;
- ``stuck_detach`` (or instance metadata ``fake:stuck_detach = "true"``): the guest never
  releases a volume, so ``detach_volume`` fails as a real one whose guest ignores the
  unplug request.

Volumes are recorded per guest (volume id -> device), as a hypervisor's domain would
hold its disks, so an emulated cloud attaches and detaches as a real one.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field

from stockyard.compute.drivers.base import (
    ComputeDriver,
    DriverError,
    HostResources,
    InstanceNotFound,
    InstanceSpec,
    PowerState,
    VolumeAttachmentSpec,
)

FAIL_SPAWN_KEY = "fake:fail_spawn"
FAIL_ON_HOSTS_KEY = "fake:fail_on_hosts"
STUCK_DETACH_KEY = "fake:stuck_detach"
HYPERVISOR_VERSION = 1_000_000
_CONSOLE_MAX_LINES = 200


@dataclass(slots=True)
class FakeGuest:
    """What the emulated hypervisor remembers of one guest."""

    uuid: str
    display_name: str
    image_ref: str
    vcpus: int
    memory_mb: int
    power_state: PowerState = PowerState.NOSTATE
    boot_count: int = 0
    rebuild_count: int = 0
    console: list[str] = field(default_factory=list)
    volumes: dict[str, str] = field(default_factory=dict)
    """Attached volumes: volume id -> guest device."""


def _boot_lines(guest: FakeGuest) -> list[str]:
    """What an emulated Linux guest prints on its serial console while it boots."""
    return [
        "[    0.000000] Linux version 6.1.0-stockyard (emulated guest) #1 SMP",
        "[    0.000000] Command line: root=/dev/vda1 ro console=tty0 console=ttyS0,115200",
        f"[    0.004211] Memory: {guest.memory_mb * 1024}K available",
        f"[    0.031570] smpboot: Allowing {guest.vcpus} CPUs, 0 hotplug CPUs",
        "[    0.412093] Serial: 8250/16550 driver, 4 ports, IRQ sharing enabled",
        "[    0.689344] virtio_blk virtio1: [vda] root disk attached",
        "[    1.205871] EXT4-fs (vda1): mounted filesystem with ordered data mode",
        f"[    1.733402] systemd[1]: Hostname set to <{guest.display_name}>.",
        f"cloud-init: instance {guest.uuid} from image {guest.image_ref or '-'}",
        "cloud-init: modules:final finished",
    ]


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


class FakeDriver(ComputeDriver):
    """An in-memory hypervisor named ``host`` with fixed capacity."""

    name = "fake"

    def __init__(
        self,
        host: str = "fake-host",
        *,
        vcpus: int = 16,
        memory_mb: int = 32768,
        local_gb: int = 200,
        boot_seconds: float = 0.0,
        fail_spawn: bool | float = False,
        seed: int | None = None,
    ) -> None:
        if boot_seconds < 0:
            raise ValueError("boot_seconds must be >= 0")
        self.host = host
        self.vcpus = vcpus
        self.memory_mb = memory_mb
        self.local_gb = local_gb
        self.boot_seconds = boot_seconds
        # Public and mutable on purpose: tests switch failures on and off mid-run.
        self.fail_spawn: bool | float = fail_spawn
        self._random = random.Random(seed)
        self.guests: dict[str, FakeGuest] = {}
        # Image ids pre-cached on this host (2.81), in the order they were first cached.
        self.cached_images: list[str] = []
        self.stuck_detach = False

    # -- failure injection -------------------------------------------------------------

    def _should_fail_spawn(self, instance: InstanceSpec) -> bool:
        if _truthy(instance.metadata.get(FAIL_SPAWN_KEY)):
            return True
        hosts = instance.metadata.get(FAIL_ON_HOSTS_KEY)
        if hosts and self.host in {h.strip() for h in hosts.split(",")}:
            return True
        if isinstance(self.fail_spawn, bool):
            return self.fail_spawn
        return self.fail_spawn > 0 and self._random.random() < self.fail_spawn

    # -- helpers -----------------------------------------------------------------------

    def _guest(self, instance: InstanceSpec) -> FakeGuest:
        guest = self.guests.get(instance.uuid)
        if guest is None:
            raise InstanceNotFound(instance.uuid, self.host)
        return guest

    def _log(self, guest: FakeGuest, line: str) -> None:
        guest.console.append(f"[stockyard-fake] {guest.display_name} {line}")
        self._trim(guest)

    def _trim(self, guest: FakeGuest) -> None:
        if len(guest.console) > _CONSOLE_MAX_LINES:
            del guest.console[: len(guest.console) - _CONSOLE_MAX_LINES]

    async def _boot(self, guest: FakeGuest) -> None:
        if self.boot_seconds:
            await asyncio.sleep(self.boot_seconds)
        guest.boot_count += 1
        guest.power_state = PowerState.RUNNING
        # A guest writes a whole boot log to its serial console, not one line: clients
        # (and Tempest) read it back by its last N lines and expect more than a few.
        guest.console.extend(_boot_lines(guest))
        self._log(guest, f"booted (boot #{guest.boot_count})")

    def _new_guest(self, instance: InstanceSpec) -> FakeGuest:
        return FakeGuest(
            uuid=instance.uuid,
            display_name=instance.display_name,
            image_ref=instance.image_ref,
            vcpus=int(instance.flavor.get("vcpus", 0) or 0),
            memory_mb=int(instance.flavor.get("ram", 0) or 0),
        )

    # -- the contract ------------------------------------------------------------------

    async def spawn(self, instance: InstanceSpec) -> None:
        existing = self.guests.get(instance.uuid)
        if existing is not None:
            if existing.power_state is not PowerState.RUNNING:
                await self._boot(existing)
            return
        if self._should_fail_spawn(instance):
            raise DriverError(
                f"Emulated hypervisor refused to start the guest {instance.display_name} "
                f"on host {self.host} (failure injection)."
            )
        guest = self._new_guest(instance)
        guest.volumes = {v.volume_id: v.device for v in instance.volumes}
        self._log(guest, f"defined from image {instance.image_ref or '-'}")
        await self._boot(guest)
        # Inserted only once booted: a failed or cancelled boot leaves nothing behind.
        self.guests[instance.uuid] = guest

    async def destroy(self, instance: InstanceSpec) -> None:
        self.guests.pop(instance.uuid, None)

    async def reboot(self, instance: InstanceSpec, hard: bool) -> None:
        guest = self._guest(instance)
        self._log(guest, "hard reset" if hard else "reboot requested by ACPI")
        await self._boot(guest)

    async def power_on(self, instance: InstanceSpec) -> None:
        guest = self._guest(instance)
        if guest.power_state is not PowerState.RUNNING:
            await self._boot(guest)

    async def power_off(self, instance: InstanceSpec) -> None:
        guest = self._guest(instance)
        if guest.power_state is not PowerState.SHUTDOWN:
            guest.power_state = PowerState.SHUTDOWN
            self._log(guest, "powered off")

    async def rebuild(self, instance: InstanceSpec, *, stopped: bool = False) -> None:
        old = self.guests.get(instance.uuid)
        if old is None:
            await self.spawn(instance)
            old = self.guests[instance.uuid]
        else:
            old.image_ref = instance.image_ref
            old.rebuild_count += 1
            self._log(old, f"root disk rebuilt from image {instance.image_ref or '-'}")
            await self._boot(old)
        if stopped:
            old.power_state = PowerState.SHUTDOWN
            self._log(old, "powered off (the server was stopped)")

    async def get_resources(self) -> HostResources:
        return HostResources(
            vcpus=self.vcpus,
            memory_mb=self.memory_mb,
            local_gb=self.local_gb,
            hypervisor_type="fake",
            hypervisor_version=HYPERVISOR_VERSION,
        )

    async def list_instances(self) -> dict[str, PowerState]:
        return {uuid: g.power_state for uuid, g in self.guests.items()}

    async def get_power_state(self, instance: InstanceSpec) -> PowerState:
        return self._guest(instance).power_state

    async def get_console_output(self, instance: InstanceSpec, length: int | None) -> str:
        # Like a real serial console at rest, the text does not end with a newline, so
        # Nova's tail ("\n".join(log.split("\n")[-length:])) gives exactly ``length`` lines.
        text = "\n".join(self._guest(instance).console)
        if length is None:
            return text
        return "\n".join(text.split("\n")[-length:]) if length > 0 else ""

    async def cache_image(self, image_id: str) -> bool:
        if image_id in self.cached_images:
            return False
        self.cached_images.append(image_id)
        return True

    async def attach_volume(self, instance: InstanceSpec, volume: VolumeAttachmentSpec) -> None:
        guest = self._guest(instance)
        if volume.volume_id in guest.volumes:
            return
        taken = set(guest.volumes.values())
        device = volume.device or next(
            f"/dev/vd{c}" for c in "bcdefghijklmnopqrstuvwxyz" if f"/dev/vd{c}" not in taken
        )
        guest.volumes[volume.volume_id] = device
        self._log(guest, f"volume {volume.volume_id} attached as {device}")

    async def detach_volume(
        self, instance: InstanceSpec, volume: VolumeAttachmentSpec, wait_s: float
    ) -> None:
        guest = self.guests.get(instance.uuid)
        if guest is None or volume.volume_id not in guest.volumes:
            return
        if self.stuck_detach or _truthy(instance.metadata.get(STUCK_DETACH_KEY)):
            raise DriverError(
                f"The guest {instance.display_name} did not release volume {volume.volume_id} "
                f"({guest.volumes[volume.volume_id]}) within {wait_s:g} s; it stays attached."
            )
        del guest.volumes[volume.volume_id]
        self._log(guest, f"volume {volume.volume_id} detached")
