"""Start the lab's emulated hypervisors: one ``FakeDriver`` + ``ComputeAgent`` per host.

Boot time precedence: a ``fake_boot_seconds`` that was set explicitly (environment,
settings file or constructor) wins; otherwise the lab's ``fake.boot_seconds``; otherwise
the settings default. So an operator can slow down or speed up any lab without editing it,
and a lab file can pick its own pace.
"""

from __future__ import annotations

from stockyard.bus.base import Bus
from stockyard.compute.agent import ComputeAgent
from stockyard.compute.drivers.fake import FakeDriver
from stockyard.compute.pool import AgentPool
from stockyard.lab.model import Lab
from stockyard.settings import Settings


def boot_seconds_for(lab: Lab, settings: Settings) -> float:
    """The boot time the lab's fake hypervisors use (see the module docstring)."""
    if "fake_boot_seconds" in settings.model_fields_set or lab.fake.boot_seconds is None:
        return settings.fake_boot_seconds
    return lab.fake.boot_seconds


def build_lab_pool(
    lab: Lab, bus: Bus, settings: Settings, *, report_interval: float = 10.0
) -> AgentPool:
    """The pool of lab agents, not started (tests reach the drivers before start)."""
    boot = boot_seconds_for(lab, settings)
    seed = lab.fake.seed
    pool = AgentPool(bus, report_interval, seed=seed)
    for i, hv in enumerate(lab.iter_hypervisors()):
        if hv.hypervisor_type != "fake":
            continue  # other drivers are started by their own runtime
        driver = FakeDriver(
            hv.name,
            vcpus=hv.vcpus,
            memory_mb=hv.memory_mb,
            local_gb=hv.local_gb,
            boot_seconds=boot,
            fail_spawn=lab.fake.fail_spawn if hv.fail_spawn is None else hv.fail_spawn,
            # Per-host seeds: a seeded lab fails the same spawns on every run.
            seed=None if seed is None else seed + i,
        )
        agent = ComputeAgent(hv.name, driver, bus, report_interval)
        pool.add(agent)
    return pool


async def start_lab_agents(
    lab: Lab, bus: Bus, settings: Settings, *, report_interval: float = 10.0
) -> AgentPool:
    """Create and start an agent per fake hypervisor of ``lab``; stop with ``pool.stop()``."""
    pool = build_lab_pool(lab, bus, settings, report_interval=report_interval)
    await pool.start()
    return pool
