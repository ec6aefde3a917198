"""The filter contract.

A filter answers one question per host (``host_passes``) and, for speed, may also:

* ``narrow`` the index-level :class:`CandidateScope` once per request, so that the
  hosts it would reject are never even listed (AZ, pool, forced host);
* override ``filter_all`` with a list comprehension over precomputed request values,
  avoiding one Python call per host.

Filters whose answer depends on what the batch has consumed so far (capacity, group
membership) set ``per_instance = True`` and are re-run for each member of a batch;
the others run once per batch. A per-instance filter must only get stricter as the
batch proceeds (a host it rejects for member k stays rejected for member k+1): the
engine relies on that to fail the rest of a batch as soon as one member fails.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from stockyard.scheduler.context import SchedulingContext
from stockyard.scheduler.host_state import HostState
from stockyard.scheduler.index import CandidateScope
from stockyard.scheduler.request import RequestSpec


@dataclass(frozen=True, slots=True)
class Narrowing:
    """What a filter's ``narrow`` did to the scope.

    ``complete`` means the scope now expresses the whole filter, so the engine skips
    its ``filter_all``.
    """

    reason: str
    complete: bool = True


class HostFilter(ABC):
    """Base class of scheduler filters; plug-ins subclass it and register by name."""

    #: Name used in configuration and in fault messages (defaults to the class name).
    name: ClassVar[str] = ""
    #: Short human reason for a rejection, e.g. "not enough RAM".
    reason: ClassVar[str] = "rejected"
    #: True if the answer changes as the batch consumes capacity or adds members.
    per_instance: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__dict__.get("name"):
            cls.name = cls.__name__

    def narrow(
        self, scope: CandidateScope, spec: RequestSpec, ctx: SchedulingContext
    ) -> Narrowing | None:
        """Optionally restrict ``scope`` in place; return what was done, or None.

        The restriction must never drop a host that ``host_passes`` would accept for
        any member of the batch.
        """
        return None

    def applies(self, spec: RequestSpec, ctx: SchedulingContext) -> bool:
        """False if the filter has nothing to check for this request (it is skipped)."""
        return True

    @abstractmethod
    def host_passes(self, host: HostState, spec: RequestSpec, ctx: SchedulingContext) -> bool:
        """True if ``host`` may take one instance of ``spec``."""

    def filter_all(
        self, hosts: list[HostState], spec: RequestSpec, ctx: SchedulingContext
    ) -> list[HostState]:
        """The hosts of ``hosts`` that pass, in order."""
        passes = self.host_passes
        return [h for h in hosts if passes(h, spec, ctx)]

    def describe(
        self, rejected: Sequence[HostState], spec: RequestSpec, ctx: SchedulingContext
    ) -> str:
        """Why ``rejected`` hosts were rejected, in a few words (failure path only)."""
        return self.reason
