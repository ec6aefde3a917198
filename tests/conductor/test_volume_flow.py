"""The conductor's volume flow: an attach op answered, failed or lost; nothing stays
attaching, and the user reads why in the instance action's event."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import delete, select

from stockyard.db.base import utcnow
from stockyard.db.models import (
    Instance,
    InstanceAction,
    InstanceActionEvent,
    Volume,
    VolumeAttachment,
    VolumeType,
)
from tests.conductor.conftest import Lab


async def _attaching(lab: Lab, uuid: str) -> tuple[str, str]:
    """A volume and its attachment as the API leaves them, plus the attach action."""
    async with lab.db.session() as s:
        vtype = VolumeType(name=f"t-{uuid[:8]}", extra_specs={})
        s.add(vtype)
        await s.flush()
        vol = Volume(
            project_id="p1", user_id="u1", size=1, status="attaching", volume_type_id=vtype.id,
            availability_zone="nova", backend="file",
        )  # fmt: skip
        s.add(vol)
        await s.flush()
        att = VolumeAttachment(
            volume_id=vol.id, project_id="p1", instance_uuid=uuid, mountpoint="/dev/vdb",
            attach_status="attaching", connection_info={"driver_volume_type": "file", "data": {}},
            updated_at=utcnow(),
        )  # fmt: skip
        s.add(att)
        s.add(
            InstanceAction(
                instance_uuid=uuid,
                action="attach_volume",
                request_id="req-a",
                user_id="u1",
                project_id="p1",
            )
        )
        await s.flush()
        return vol.id, att.id


async def _state(lab: Lab, vol_id: str, att_id: str) -> tuple[str, str | None, list[str]]:
    async with lab.db.session() as s:
        vol = await s.get(Volume, vol_id)
        att = await s.get(VolumeAttachment, att_id)
        events = await s.scalars(
            select(InstanceActionEvent)
            .join(InstanceAction, InstanceAction.id == InstanceActionEvent.action_id)
            .where(InstanceAction.action == "attach_volume")
        )
        return (
            vol.status if vol else "gone",
            att.attach_status if att else None,
            [f"{e.result}: {e.traceback or ''}" for e in events],
        )


async def _ready(lab: Lab) -> str:
    await lab.add_hosts(1)
    await lab.start()
    (uuid,) = await lab.create(1)
    await lab.settled([uuid])
    return uuid


async def _until(
    pred: object, lab: Lab, vol_id: str, att_id: str
) -> tuple[str, str | None, list[str]]:
    loop = asyncio.get_running_loop()
    end = loop.time() + 30
    while True:
        state = await _state(lab, vol_id, att_id)
        if pred(state) or loop.time() > end:  # type: ignore[operator]
            return state
        await asyncio.sleep(0.02)


async def test_attach_succeeds(lab: Lab) -> None:
    uuid = await _ready(lab)
    vol_id, att_id = await _attaching(lab, uuid)
    await lab.bus.publish("conductor", {"type": "task", "instance_uuid": uuid})
    state = await _until(lambda st: st[0] == "in-use", lab, vol_id, att_id)
    assert state == ("in-use", "attached", ["Success: "])
    sent = [m for m in lab.agent.received if m["op"] == "attach_volume"]
    assert sent[0]["volume"]["volume_id"] == vol_id


async def test_attach_fails_readably(lab: Lab) -> None:
    uuid = await _ready(lab)
    lab.agent.fail_ops = {"attach_volume"}
    vol_id, att_id = await _attaching(lab, uuid)
    await lab.bus.publish("conductor", {"type": "task", "instance_uuid": uuid})
    state = await _until(lambda st: st[0] == "available", lab, vol_id, att_id)
    assert state[:2] == ("available", None)
    assert state[2][0].startswith("Error: Failed to attach volume") and "emulated" in state[2][0]


async def _expire(lab: Lab, att_id: str) -> None:
    """The op's lease runs out, as after a dead agent or a lost answer."""
    async with lab.db.session() as s:
        att = await s.get(VolumeAttachment, att_id)
        assert att is not None and att.lease_owner
        att.lease_expires = utcnow() - timedelta(seconds=1)


async def _attach_unanswered(lab: Lab) -> tuple[str, str]:
    """An attach op sent to an agent that drops it (nor answers)."""
    uuid = await _ready(lab)
    lab.agent.drop = True
    vol_id, att_id = await _attaching(lab, uuid)
    await lab.bus.publish("conductor", {"type": "task", "instance_uuid": uuid})
    await _until(lambda st: bool([m for m in lab.agent.received if m["op"] == "attach_volume"]),
                 lab, vol_id, att_id)  # fmt: skip
    return vol_id, att_id


async def test_lost_attach_is_detached_before_the_volume_is_free(lab: Lab) -> None:
    """Nobody knows whether the host attached it (the op may have run and only its
    answer been lost): the volume is detached from the host before it is available, or
    stays in-use if the host cannot say it let go, never free while a guest may hold it."""
    vol_id, att_id = await _attach_unanswered(lab)
    assert (await _state(lab, vol_id, att_id))[0] == "attaching"
    await _expire(lab, att_id)
    assert await lab.conductor.volumes.reconcile_once() == 1
    state = await _state(lab, vol_id, att_id)
    assert state[:2] == ("detaching", "detaching")
    assert "did not attach the volume in time" in state[2][0]
    # The next pass sends the detach; the host answers this time.
    lab.agent.drop = False
    await lab.conductor.volumes.drive(att_id)
    state = await _until(lambda st: st[0] == "available", lab, vol_id, att_id)
    assert state[:2] == ("available", None)
    (detach,) = [m for m in lab.agent.received if m["op"] == "detach_volume"]
    assert detach["volume"]["volume_id"] == vol_id


async def test_lost_attach_whose_detach_fails_stays_in_use(lab: Lab) -> None:
    vol_id, att_id = await _attach_unanswered(lab)
    await _expire(lab, att_id)
    await lab.conductor.volumes.reconcile_once()
    lab.agent.drop = False
    lab.agent.fail_ops = {"detach_volume"}
    await lab.conductor.volumes.drive(att_id)
    state = await _until(lambda st: st[0] == "in-use", lab, vol_id, att_id)
    assert state[:2] == ("in-use", "attached")


async def test_a_reboot_during_a_detach_does_not_give_the_volume_back(lab: Lab) -> None:
    """A hard reboot redefines the guest from the volumes its op carries. Sent while a
    detach is under way, it must not carry the volume: the host may run it after the
    detach, and the guest would hold a volume that is free for other servers."""
    uuid = await _ready(lab)
    vol_id, att_id = await _attaching(lab, uuid)
    await lab.bus.publish("conductor", {"type": "task", "instance_uuid": uuid})
    assert (await _until(lambda st: st[0] == "in-use", lab, vol_id, att_id))[0] == "in-use"
    await lab.task(uuid, "rebooting_hard")
    await lab.settled([uuid])
    lab.agent.drop = True  # the detach op stays on its way
    async with lab.db.session() as s:
        att = await s.get(VolumeAttachment, att_id)
        vol = await s.get(Volume, vol_id)
        assert att is not None and vol is not None
        att.attach_status, vol.status = "detaching", "detaching"
    await lab.bus.publish("conductor", {"type": "task", "instance_uuid": uuid})
    await _until(lambda st: any(m["op"] == "detach_volume" for m in lab.agent.received),
                 lab, vol_id, att_id)  # fmt: skip
    lab.agent.drop = False
    await lab.task(uuid, "rebooting_hard")
    await lab.settled([uuid])
    before, during = [m for m in lab.agent.received if m["op"] == "reboot"]
    assert [v["volume_id"] for v in before["instance"]["volumes"]] == [vol_id]
    assert during["instance"].get("volumes", []) == []


@pytest.mark.backend("postgresql", "mariadb")
async def test_a_lost_op_ended_while_its_server_is_deleted(lab: Lab) -> None:
    """The reconciler ends a lost attach while the server's delete (holding the server's
    row) removes the attachment: it finds the attachment gone once it has the row, and
    ends nothing (it wrote the removed row before: StaleDataError, a failed pass)."""
    vol_id, att_id = await _attach_unanswered(lab)
    await _expire(lab, att_id)
    async with lab.db.session() as s:
        att = await s.get(VolumeAttachment, att_id)
        assert att is not None
        await s.execute(
            select(Instance.id).where(Instance.uuid == att.instance_uuid).with_for_update()
        )
        ending = asyncio.create_task(lab.conductor.volumes.reconcile_once())
        await asyncio.sleep(0.5)  # the pass reads the attachment, then waits for the row
        await s.execute(delete(VolumeAttachment).where(VolumeAttachment.id == att_id))
    assert await ending == 0  # nothing left to end, and no error
    assert (await _state(lab, vol_id, att_id))[1] is None
