"""Server builds that wait for volumes (boot from volume): the volume role tells the
placer when one of their volumes is done, so the build goes on at once. A lost message
only delays the build to the conductor's next reconciler pass."""

from __future__ import annotations

import logging

from sqlalchemy import select

from stockyard.bus import contract
from stockyard.bus.base import Bus
from stockyard.db.base import Database
from stockyard.db.models import Instance

log = logging.getLogger(__name__)


async def wake_builds(db: Database, bus: Bus, volume_id: str) -> list[str]:
    """Send a build hint for the servers in ``scheduling`` that map ``volume_id``."""
    try:
        async with db.session() as s:
            rows = (
                await s.execute(
                    select(Instance.uuid, Instance.block_devices).where(
                        Instance.task_state == "scheduling",
                        Instance.deleted.is_(False),
                        Instance.block_devices.is_not(None),
                    )
                )
            ).all()
        uuids = [
            uuid
            for uuid, mappings in rows
            if any(isinstance(m, dict) and m.get("volume_id") == volume_id for m in mappings or [])
        ]
        if uuids:
            hint = contract.BuildHint(instance_uuids=uuids)
            await bus.publish(contract.SCHEDULER, contract.encode(hint))
        return uuids
    except Exception:
        # Only an optimisation: the reconciler hands waiting builds over anyway.
        log.exception("waking the builds waiting for volume %s failed", volume_id)
        return []
