"""Regression: a pool checkout timeout (sqlalchemy's TimeoutError, not the builtin one)
while applying a build result set the instance to ERROR with "Internal error"; it is a
busy moment, so the step is left to the reconciler and the instance keeps its task."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import exc as sa_exc
from sqlalchemy import select

from stockyard.db.base import Database, new_uuid
from stockyard.db.models import Instance, InstanceFault
from stockyard.lifecycle.isolation import isolated


async def test_pool_timeout_leaves_the_instance_to_the_reconciler(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/t.db")
    await db.create_all()
    uuid = new_uuid()
    async with db.session() as s:
        s.add(
            Instance(
                uuid=uuid, name="vm", project_id="p1", user_id="u1", flavor_id="1", flavor={},
                vm_state="building", task_state="spawning",
            )
        )  # fmt: skip

    async def step() -> None:
        raise sa_exc.TimeoutError("QueuePool limit of size 5 overflow 10 reached")

    await isolated(db, [uuid], "applying its build result", step())
    async with db.session() as s:
        inst = (await s.execute(select(Instance).where(Instance.uuid == uuid))).scalar_one()
        faults = (await s.execute(select(InstanceFault))).scalars().all()
    assert (inst.vm_state, inst.task_state) == ("building", "spawning")
    assert faults == []
    await db.dispose()
