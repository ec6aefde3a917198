"""Built-in scheduler filters."""

from stockyard.scheduler.filters.aggregate import AggregateInstanceExtraSpecsFilter
from stockyard.scheduler.filters.base import HostFilter, Narrowing
from stockyard.scheduler.filters.compute import AvailabilityZoneFilter, ComputeFilter
from stockyard.scheduler.filters.groups import (
    ServerGroupAffinityFilter,
    ServerGroupAntiAffinityFilter,
)
from stockyard.scheduler.filters.hosts import ForcedHostFilter, IgnoreHostsFilter
from stockyard.scheduler.filters.resources import ResourceFilter, StockFilter

BUILTIN_FILTERS: tuple[type[HostFilter], ...] = (
    ComputeFilter,
    AvailabilityZoneFilter,
    ForcedHostFilter,
    IgnoreHostsFilter,
    ResourceFilter,
    StockFilter,
    AggregateInstanceExtraSpecsFilter,
    ServerGroupAffinityFilter,
    ServerGroupAntiAffinityFilter,
)

__all__ = [
    "BUILTIN_FILTERS",
    "AggregateInstanceExtraSpecsFilter",
    "AvailabilityZoneFilter",
    "ComputeFilter",
    "ForcedHostFilter",
    "HostFilter",
    "IgnoreHostsFilter",
    "Narrowing",
    "ResourceFilter",
    "ServerGroupAffinityFilter",
    "ServerGroupAntiAffinityFilter",
    "StockFilter",
]
