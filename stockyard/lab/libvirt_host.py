"""This machine as a libvirt hypervisor: its host row and its compute agent.

When the setting ``libvirt_uri`` is set (``STOCKYARD_LIBVIRT_URI=qemu:///system``), the
machine is one more hypervisor of the cloud, next to the lab's emulated ones:

- enrolment (``stockyard up``, ``db upgrade``, ``lab enroll``) adds a host named
  ``libvirt_host`` (default: the hostname) in the lab's first region, zone ``libvirt_az``,
  rack ``libvirt_rack``, type ``QEMU``, with the machine's real vCPUs, RAM and the disk
  of the data dir (the agent's host reports then keep them current, from libvirt);
- ``stockyard up`` and the ``stockyard agent`` role run a ``ComputeAgent`` with the
  ``LibvirtDriver`` for it. The driver finds images in ``<data_dir>/images``, so the
  agent must share the API's data dir (the all-in-one set-up).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from stockyard.bus.base import Bus
from stockyard.compute.agent import ComputeAgent
from stockyard.lab.model import Lab, LabHypervisor
from stockyard.settings import Settings

HYPERVISOR_TYPE = "QEMU"


def network_mode(settings: Settings) -> str:
    """The driver's network mode: ``user``, ``network:NAME`` or ``bridge:NAME``."""
    name = settings.libvirt_network
    if not name or name == "user":
        return "user"
    if name.startswith(("network:", "bridge:")):
        return name
    return f"network:{name}"


def _existing_parent(path: Path) -> Path:
    probe = path.resolve()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return probe


def host_inventory(data_dir: Path) -> tuple[int, int, int]:
    """(vCPUs, RAM MiB, disk GiB) of this machine: what libvirt's ``getInfo`` reports.

    Read from the OS, so enrolment needs no libvirt connection (``db upgrade`` may run
    where libvirtd does not).
    """
    vcpus = os.cpu_count() or 1
    memory_mb = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // (1024 * 1024)
    # The same file system the driver's disks go on (<data_dir>/libvirt).
    local_gb = shutil.disk_usage(_existing_parent(data_dir / "libvirt")).total // 1024**3
    return vcpus, int(memory_mb), int(local_gb)


def local_hypervisors(lab: Lab, settings: Settings) -> list[LabHypervisor]:
    """The libvirt host to enrol next to the lab's (none when ``libvirt_uri`` is unset)."""
    if not settings.libvirt_uri:
        return []
    vcpus, memory_mb, local_gb = host_inventory(settings.data_dir)
    return [
        LabHypervisor(
            name=settings.libvirt_host,
            region=lab.regions[0].name,
            az=settings.libvirt_az,
            rack=settings.libvirt_rack,
            vcpus=vcpus,
            memory_mb=memory_mb,
            local_gb=local_gb,
            hypervisor_type=HYPERVISOR_TYPE,
        )
    ]


def build_libvirt_agent(
    settings: Settings, bus: Bus, *, report_interval: float = 10.0
) -> ComputeAgent | None:
    """The agent of this machine's libvirt host, not started; None without ``libvirt_uri``.

    Raises ``SystemExit`` with the reason when libvirt-python is not installed.
    """
    if not settings.libvirt_uri:
        return None
    try:
        from stockyard.compute.drivers.libvirt import LibvirtDriver
    except ImportError as exc:
        raise SystemExit(
            f"libvirt_uri is set but libvirt-python is missing ({exc}): run scripts/install-libvirt"
        ) from exc
    driver = LibvirtDriver(
        settings.libvirt_host,
        uri=settings.libvirt_uri,
        data_dir=settings.data_dir,
        network=network_mode(settings),
        virt_type=settings.libvirt_virt_type,
    )
    return ComputeAgent(
        settings.libvirt_host,
        driver,
        bus,
        report_interval,
        volume_detach_timeout=settings.volume_detach_timeout_seconds,
    )


async def start_libvirt_agent(
    settings: Settings, bus: Bus, *, report_interval: float = 10.0
) -> ComputeAgent | None:
    """Build and start the libvirt host's agent (see ``build_libvirt_agent``)."""
    agent = build_libvirt_agent(settings, bus, report_interval=report_interval)
    if agent is not None:
        await agent.start()
    return agent
