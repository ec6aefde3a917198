"""Flavor extra spec validation from microversion 2.86 (Nova's ``extra_specs`` validators).

Nova checks each key against its registered validators: a registered key's value must
fit its type (integer with bounds, oslo boolean, enum or pattern); a key in one of its
namespaces that no validator knows is refused; a key in another namespace, or without
one, is let through. Messages are Nova's ("Validation failed; ...").

What is checked here, and what is not (on purpose, to never refuse what Nova accepts):

- strict, unknown keys refused: ``resources{group}:`` (the standard resource classes
  and ``CUSTOM_*``; integer values; the placement code reads ``resources:CUSTOM_*``),
  ``trait{group}:`` (``required``/``forbidden``), ``aggregate_instance_extra_specs:``
  (any key and value; the scheduler's AggregateInstanceExtraSpecsFilter reads them),
  and the unnamespaced ``group_policy`` and ``hide_hypervisor_id``;
- values only: the common ``hw:`` keys below and ``hw_rng:``/``hw_video:`` limits, with
  Nova's rules. Other keys in those namespaces pass: Nova's ``hw:`` set grows every
  release, and refusing a key a newer Nova accepts would break a client;
- not checked: trait names (os-traits' standard list is not carried here: any
  upper-case name passes), and the ``quota:``, ``os:``, ``capabilities:``,
  ``pci_passthrough:``, ``accel:``, ``powervm:`` and ``vmware:`` namespaces (no
  Stockyard driver reads them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stockyard.api.errors import APIError

_GROUP = r"([a-zA-Z0-9_-]{1,64})?"
_CPU_MASK = r"\^?\d+((-\d+)?(,\^?\d+(-\d+)?)?)*"
# os-resource-classes' standard classes (Nova registers one validator per class).
_STANDARD_CLASSES = (
    "VCPU|MEMORY_MB|DISK_GB|PCI_DEVICE|SRIOV_NET_VF|NUMA_SOCKET|NUMA_CORE|NUMA_THREAD|"
    "NUMA_MEMORY_MB|IPV4_ADDRESS|VGPU|VGPU_DISPLAY_HEAD|NET_BW_EGR_KILOBIT_PER_SEC|"
    "NET_BW_IGR_KILOBIT_PER_SEC|PCPU|MEM_ENCRYPTION_CONTEXT|FPGA|PGPU|"
    "NET_PACKET_RATE_KILOPACKET_PER_SEC|NET_PACKET_RATE_EGR_KILOPACKET_PER_SEC|"
    "NET_PACKET_RATE_IGR_KILOPACKET_PER_SEC"
)
_TRUE = {"1", "t", "true", "on", "y", "yes"}
_FALSE = {"0", "f", "false", "off", "n", "no"}


@dataclass(frozen=True)
class Rule:
    """One validator: ``name`` (a regex matched in full) and the value's rule."""

    name: str
    kind: type = str
    enum: tuple[str, ...] = ()
    pattern: str = ""
    min: int | None = None
    max: int | None = None

    def check(self, value: str) -> None:
        if self.kind is int:
            try:
                number = int(value)
            except ValueError:
                _fail(f"'{value}' is not a valid integer value.")
            if self.max is not None and number > self.max:
                _fail(f"'{value}' is greater than the max value of '{self.max}'.")
            if self.min is not None and number < self.min:
                _fail(f"'{value}' is less than the min value of '{self.min}'.")
        elif self.kind is bool:
            if value.strip().lower() not in _TRUE | _FALSE:
                _fail(f"'{value}' is not a valid boolean-like value.")
        elif self.pattern and not re.fullmatch(self.pattern, value):
            _fail(f"'{value}' is not of the format '{self.pattern}'.")
        elif self.enum and value not in self.enum:
            _fail(f"'{value}' is not one of: {', '.join(self.enum)}.")


def _fail(why: str) -> None:
    raise APIError(400, f"Validation failed; {why}")


RULES: tuple[Rule, ...] = (
    # Unnamespaced (Nova's null.py).
    Rule("hide_hypervisor_id", bool),
    Rule("group_policy", enum=("isolate", "none")),
    # Placement and scheduler: what Stockyard itself reads.
    Rule(rf"resources{_GROUP}:({_STANDARD_CLASSES})", int),
    Rule(rf"resources{_GROUP}:CUSTOM_[A-Z0-9_]+", int),
    Rule(rf"trait{_GROUP}:[A-Z0-9_]+", enum=("required", "forbidden")),
    Rule(r"aggregate_instance_extra_specs:.+"),
    # hw: (values only; see the module docstring).
    Rule(r"hw:cpu_realtime", bool),
    Rule(r"hw:cpu_realtime_mask", pattern=r"(\^)?\d+((-\d+)?(,\^?\d+(-\d+)?)?)*"),
    Rule(r"hw:hide_hypervisor_id", bool),
    Rule(r"hw:cpu_policy", enum=("dedicated", "shared", "mixed")),
    Rule(r"hw:cpu_thread_policy", enum=("prefer", "isolate", "require")),
    Rule(r"hw:emulator_threads_policy", enum=("isolate", "share")),
    Rule(r"hw:cpu_dedicated_mask", pattern=_CPU_MASK),
    Rule(r"hw:mem_page_size", pattern=r"(large|small|any|\d+([kKMGT]i?)?(b|bit|B)?)"),
    Rule(r"hw:numa_nodes", int, min=1),
    Rule(r"hw:numa_cpus\.\d+", pattern=_CPU_MASK),
    Rule(r"hw:numa_mem\.\d+", int, min=1),
    Rule(r"hw:pci_numa_affinity_policy", enum=("required", "preferred", "legacy", "socket")),
    Rule(r"hw:(max_)?cpu_(sockets|cores|threads)", int, min=1),
    Rule(r"hw:(boot_menu|mem_encryption|pmu)", bool),
    Rule(r"hw:pmem", pattern=r"([a-zA-Z0-9_]+(,)?)+"),
    Rule(r"hw:serial_port_count", int, min=0),
    Rule(r"hw:tpm_model", enum=("tpm-tis", "tpm-crb")),
    Rule(r"hw:tpm_version", enum=("1.2", "2.0")),
    Rule(r"hw:watchdog_action", enum=("none", "pause", "poweroff", "reset", "disabled")),
    Rule(r"hw_rng:allowed", bool),
    Rule(r"hw_rng:rate_(bytes|period)", int, min=0),
    Rule(r"hw_video:ram_max_mb", int, min=0),
)
# Namespaces whose every key is covered above: a key no rule knows is refused there.
STRICT_NAMESPACES = (rf"resources{_GROUP}", rf"trait{_GROUP}", "aggregate_instance_extra_specs")


def validate(name: str, value: str) -> None:
    """Nova's ``validators.validate``: 400 for a value or key it would refuse."""
    for rule in RULES:
        if re.fullmatch(rule.name, name):
            rule.check(value)
            return
    if ":" not in name:
        return
    namespace = name.split(":", 1)[0]
    if any(re.fullmatch(ns, namespace) for ns in STRICT_NAMESPACES):
        _fail(f"extra spec '{name}' does not appear to be a valid extra spec.")
