"""What the placement and conductor flows share: database, bus, settings, scheduler, identity."""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from stockyard.bus.base import Bus
from stockyard.db.base import Database, utcnow
from stockyard.scheduler import Scheduler
from stockyard.settings import Settings

MAX_CLAIM_TRIES = 10
"""Placement passes in a row that settle nothing (every claim lost to other placers)."""
# Waits (backing off to 1 s each) for another placer's pass holding a group's lock:
# about two minutes at most, far beyond any pass.
MAX_GROUP_WAITS = 120


def new_conductor_id() -> str:
    """``hostname-pid-random``: unique per process, readable in ``lease_owner``."""
    host = socket.gethostname().split(".")[0][:30]
    return f"{host}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def new_op_id() -> str:
    """A fresh op id (uuid4 hex), unique per attempt as the bus contract requires."""
    return uuid.uuid4().hex


@dataclass(slots=True)
class FlowContext:
    """Dependencies of the flows; one per conductor or scheduler process (role)."""

    db: Database
    bus: Bus
    settings: Settings
    scheduler: Scheduler
    conductor_id: str = field(default_factory=new_conductor_id)
    op_lease_seconds: float | None = None

    def lease_until(self, now: datetime | None = None) -> datetime:
        """Expiry of a lease a conductor takes now."""
        return (now or utcnow()) + timedelta(seconds=self.settings.lease_seconds)

    def op_lease(self) -> timedelta:
        """How long an op in flight may go unanswered before it is sent again."""
        return timedelta(seconds=self.op_lease_seconds or self.settings.lease_seconds)

    def op_lease_until(self, now: datetime | None = None) -> datetime:
        """Expiry of an op in flight; after it the reconciler resends the op."""
        return (now or utcnow()) + self.op_lease()
