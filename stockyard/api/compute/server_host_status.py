"""A server's ``host_status`` (2.16+): the state of its host's compute service.

The compute service of a host is its ``hosts`` row, the same one ``os-services`` shows
as ``nova-compute`` (:mod:`stockyard.api.compute.services`); liveness is
:func:`~stockyard.api.compute.hostinfo.host_is_up`, so both answer alike. Nova's
``get_instance_host_status`` order: forced down -> ``DOWN``; else disabled ->
``MAINTENANCE``; else not reporting -> ``UNKNOWN``; else ``UP``. A server without a host,
or whose host has no service row (deleted from ``os-services``), is ``""``.

Who sees it: admins (Nova's ``os_compute_api:servers:show:host_status``). Nova's
``...:host_status:unknown-only`` policy (Train, no microversion) could show non-admins
``UNKNOWN`` only; its default is admin-only too, and Stockyard has no policy file, so
non-admins never get the key.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.api.compute.hostinfo import host_is_up
from stockyard.db.base import utcnow
from stockyard.db.models import Host

UP = "UP"
DOWN = "DOWN"
MAINTENANCE = "MAINTENANCE"
UNKNOWN = "UNKNOWN"
NONE = ""


def status_of(host: Host | None, now: datetime | None = None) -> str:
    """``host_status`` of a server on ``host`` (``None``: no service row)."""
    if host is None:
        return NONE
    if host.forced_down:
        return DOWN
    if host.status != "enabled":
        return MAINTENANCE
    return UP if host_is_up(host, now) else UNKNOWN


async def host_statuses(session: AsyncSession, hosts: Iterable[str | None]) -> dict[str, str]:
    """``host name -> host_status`` of each named host, in one query (list detail)."""
    names = {h for h in hosts if h}
    if not names:
        return {}
    rows = {h.name: h for h in await session.scalars(select(Host).where(Host.name.in_(names)))}
    now = utcnow()
    return {name: status_of(rows.get(name), now) for name in names}
