"""Stockyard's scheduler: in-memory host states, plug-in filters and weighers.

Typical use by the conductor::

    scheduler = Scheduler(HostStateIndex(hosts), SchedulerConfig())
    result = scheduler.select(spec)          # BatchResult
    for sel in result.selections: ...        # confirm sel.claim in the database
    for uuid, fault in result.failures.items(): ...   # str(fault) is user-readable
    scheduler.release(instance_uuid)         # on delete or failed DB claim
"""

from stockyard.scheduler.context import SchedulingContext
from stockyard.scheduler.engine import BatchResult, Scheduler, Selection
from stockyard.scheduler.errors import NoValidHost, Rejection
from stockyard.scheduler.filters import HostFilter, Narrowing
from stockyard.scheduler.host_state import (
    FAILURE_DOMAIN_LEVELS,
    Claim,
    FailureDomainLevel,
    HostKind,
    HostState,
)
from stockyard.scheduler.index import CandidateScope, HostStateIndex
from stockyard.scheduler.registry import (
    FILTER_GROUP,
    WEIGHER_GROUP,
    SchedulerConfig,
    UnknownPlugin,
    filter_class,
    register_filter,
    register_weigher,
    weigher_class,
)
from stockyard.scheduler.request import GroupInfo, GroupPolicy, RequestSpec
from stockyard.scheduler.weighers import HostWeigher

__all__ = [
    "FAILURE_DOMAIN_LEVELS",
    "FILTER_GROUP",
    "WEIGHER_GROUP",
    "BatchResult",
    "CandidateScope",
    "Claim",
    "FailureDomainLevel",
    "GroupInfo",
    "GroupPolicy",
    "HostFilter",
    "HostKind",
    "HostState",
    "HostStateIndex",
    "HostWeigher",
    "Narrowing",
    "NoValidHost",
    "Rejection",
    "RequestSpec",
    "Scheduler",
    "SchedulerConfig",
    "SchedulingContext",
    "Selection",
    "UnknownPlugin",
    "filter_class",
    "register_filter",
    "register_weigher",
    "weigher_class",
]
