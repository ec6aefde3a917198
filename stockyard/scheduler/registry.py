"""Plug-in lookup by name, and the scheduler configuration.

Built-in filters and weighers are registered under their class names. Third-party
ones are found through ``importlib.metadata`` entry points in the groups
``stockyard.scheduler.filters`` and ``stockyard.scheduler.weighers``; the entry point
name is the name used in :class:`SchedulerConfig`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Literal, TypeVar, cast

from stockyard.scheduler.filters import BUILTIN_FILTERS, HostFilter
from stockyard.scheduler.weighers import BUILTIN_WEIGHERS, HostWeigher

FILTER_GROUP = "stockyard.scheduler.filters"
WEIGHER_GROUP = "stockyard.scheduler.weighers"

Strategy = Literal["spread", "pack"]

FILTERS: dict[str, type[HostFilter]] = {cls.name: cls for cls in BUILTIN_FILTERS}
WEIGHERS: dict[str, type[HostWeigher]] = {cls.name: cls for cls in BUILTIN_WEIGHERS}

DEFAULT_FILTERS: tuple[str, ...] = (
    "ComputeFilter",
    "AvailabilityZoneFilter",
    "ForcedHostFilter",
    "IgnoreHostsFilter",
    "ResourceFilter",
    "StockFilter",
    "AggregateInstanceExtraSpecsFilter",
    "ServerGroupAffinityFilter",
    "ServerGroupAntiAffinityFilter",
)


def _default_weighers() -> dict[str, float]:
    return {cls.name: cls.default_multiplier for cls in BUILTIN_WEIGHERS}


@dataclass(slots=True)
class SchedulerConfig:
    """Which filters run (in order), which weighers with which multipliers.

    ``strategy="pack"`` negates the multipliers of resource weighers (those with
    ``follows_strategy``), so the fullest host that fits wins instead of the emptiest.
    ``max_candidates`` bounds the hosts weighed for wide VM requests (see the field).
    """

    filters: list[str] = field(default_factory=lambda: list(DEFAULT_FILTERS))
    weighers: dict[str, float] = field(default_factory=_default_weighers)
    strategy: Strategy = "spread"
    #: Above this many candidates, a VM request without a group weighs only this many
    #: hosts, those with the most free RAM (``pack``: the least that fits) - as Nova's
    #: placement caps its candidates (``max_placement_results``). Filters still check
    #: every host weighed; if none passes, the whole scope is scanned. 0 = always scan.
    max_candidates: int = 1000


class UnknownPlugin(LookupError):
    """A configured filter or weigher name matches no built-in or entry point."""


T = TypeVar("T", HostFilter, HostWeigher)


def _lookup(name: str, table: dict[str, type[T]], group: str, base: type) -> type[T]:
    found = table.get(name)
    if found is not None:
        return found
    for ep in entry_points(group=group):
        if ep.name == name:
            loaded = ep.load()
            if not (isinstance(loaded, type) and issubclass(loaded, base)):
                raise UnknownPlugin(f"entry point {name!r} in {group} is not a {base.__name__}")
            cls = cast("type[T]", loaded)
            table[name] = cls  # cache: entry point scanning is slow
            return cls
    raise UnknownPlugin(f"no scheduler plug-in named {name!r} (group {group})")


def filter_class(name: str) -> type[HostFilter]:
    """The filter class registered as ``name``."""
    return _lookup(name, FILTERS, FILTER_GROUP, HostFilter)


def weigher_class(name: str) -> type[HostWeigher]:
    """The weigher class registered as ``name``."""
    return _lookup(name, WEIGHERS, WEIGHER_GROUP, HostWeigher)


def register_filter(cls: type[HostFilter]) -> type[HostFilter]:
    """Register a filter class by its ``name`` (usable as a decorator)."""
    FILTERS[cls.name] = cls
    return cls


def register_weigher(cls: type[HostWeigher]) -> type[HostWeigher]:
    """Register a weigher class by its ``name`` (usable as a decorator)."""
    WEIGHERS[cls.name] = cls
    return cls


def build_filters(config: SchedulerConfig) -> list[HostFilter]:
    """Instantiate the configured filters, in configured order."""
    return [filter_class(name)() for name in config.filters]


def build_weighers(config: SchedulerConfig) -> list[HostWeigher]:
    """Instantiate the configured weighers with their (strategy-adjusted) multipliers."""
    out: list[HostWeigher] = []
    for name, multiplier in config.weighers.items():
        cls = weigher_class(name)
        if config.strategy == "pack" and cls.follows_strategy:
            multiplier = -multiplier
        out.append(cls(multiplier))
    return out
