"""Instance action events for a whole burst: the same records as
:func:`~stockyard.lifecycle.records.start_event` / ``finish_event``, in a few queries.

A burst of N builds would otherwise cost four queries per instance and per event.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.db.base import utcnow
from stockyard.db.models import InstanceAction, InstanceActionEvent


async def _current_actions(s: AsyncSession, uuids: Sequence[str]) -> dict[str, int]:
    """Instance uuid -> id of its newest unfinished action (``records.current_action``)."""
    if not uuids:
        return {}
    stmt = (
        select(InstanceAction.instance_uuid, func.max(InstanceAction.id))
        .where(InstanceAction.instance_uuid.in_(list(uuids)), InstanceAction.finish_time.is_(None))
        .group_by(InstanceAction.instance_uuid)
    )
    return {str(uuid): int(action_id) for uuid, action_id in (await s.execute(stmt)).all()}


async def _open_events(
    s: AsyncSession, action_ids: Sequence[int], *events: str
) -> dict[str, dict[int, InstanceActionEvent]]:
    """Event name -> action id -> its open event, for each of ``events`` (one query)."""
    out: dict[str, dict[int, InstanceActionEvent]] = {event: {} for event in events}
    if not action_ids:
        return out
    stmt = select(InstanceActionEvent).where(
        InstanceActionEvent.action_id.in_(list(action_ids)),
        InstanceActionEvent.event.in_(events),
        InstanceActionEvent.finish_time.is_(None),
    )
    for ev in (await s.execute(stmt)).scalars():
        out[ev.event][ev.action_id] = ev
    return out


async def start_many(s: AsyncSession, uuids: Sequence[str], event: str) -> None:
    """Open ``event`` on each instance's current action, unless it is open already."""
    actions = await _current_actions(s, uuids)
    open_ = (await _open_events(s, list(actions.values()), event))[event]
    s.add_all(
        InstanceActionEvent(action_id=action_id, event=event)
        for action_id in actions.values()
        if action_id not in open_
    )


async def finish_and_start(
    s: AsyncSession, hosts: Mapping[str, str], finished: str, started: str
) -> None:
    """Close ``finished`` as a success and open ``started``, on each instance's host
    (``hosts``: instance uuid -> host name)."""
    actions = await _current_actions(s, list(hosts))
    open_ = await _open_events(s, list(actions.values()), finished, started)
    open_finished, open_started = open_[finished], open_[started]
    now = utcnow()
    for uuid, action_id in actions.items():
        host = hosts[uuid]
        ev = open_finished.get(action_id)
        if ev is None:
            # A resumed flow that never opened it.
            ev = InstanceActionEvent(action_id=action_id, event=finished, host=host)
            s.add(ev)
        ev.finish_time = now
        ev.result = "Success"
        ev.host = ev.host or host
        if action_id not in open_started:
            s.add(InstanceActionEvent(action_id=action_id, event=started, host=host))
