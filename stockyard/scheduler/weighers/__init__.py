"""Built-in scheduler weighers."""

from stockyard.scheduler.weighers.base import HostWeigher, combine, normalize
from stockyard.scheduler.weighers.groups import SoftAffinityWeigher, SoftAntiAffinityWeigher
from stockyard.scheduler.weighers.resources import CPUWeigher, DiskWeigher, RAMWeigher

BUILTIN_WEIGHERS: tuple[type[HostWeigher], ...] = (
    RAMWeigher,
    CPUWeigher,
    DiskWeigher,
    SoftAntiAffinityWeigher,
    SoftAffinityWeigher,
)

__all__ = [
    "BUILTIN_WEIGHERS",
    "CPUWeigher",
    "DiskWeigher",
    "HostWeigher",
    "RAMWeigher",
    "SoftAffinityWeigher",
    "SoftAntiAffinityWeigher",
    "combine",
    "normalize",
]
