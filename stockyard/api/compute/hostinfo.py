"""Liveness of a host as the API shows it (hypervisor ``state``, zone ``available``)."""

from __future__ import annotations

from datetime import datetime, timedelta

from stockyard.db.base import utcnow
from stockyard.db.models import Host

# A host whose agent has not reported for longer than this is shown as down, as Nova's
# service_down_time (60 s by default).
HOST_DOWN_AFTER_SECONDS = 60


def host_is_up(host: Host, now: datetime | None = None) -> bool:
    """True if the host reported within ``HOST_DOWN_AFTER_SECONDS`` and is not forced
    down (``os-services``)."""
    if host.forced_down:
        return False
    now = now or utcnow()
    return now - host.last_seen <= timedelta(seconds=HOST_DOWN_AFTER_SECONDS)
