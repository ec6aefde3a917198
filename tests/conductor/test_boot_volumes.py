"""Builds of servers with volumes (boot from volume): the build waits for the volumes,
spawns with them reserved on its host (boot volume first), completes them in-use; a
failed volume ends the server in ERROR readably; a failed spawn leaves none reserved;
a delete releases them and deletes the delete_on_termination ones."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select

from stockyard.db.models import InstanceFault, Volume, VolumeAttachment, VolumeType
from stockyard.volume.service import VolumeService
from tests.conductor.conftest import Lab


async def _volume(lab: Lab, status: str = "available", **fields: Any) -> str:
    async with lab.db.session() as s:
        vtype = await s.scalar(select(VolumeType).where(VolumeType.name == "t"))
        if vtype is None:
            vtype = VolumeType(name="t", extra_specs={})
            s.add(vtype)
            await s.flush()
        vol = Volume(
            project_id="p1", user_id="u1", size=1, status=status, volume_type_id=vtype.id,
            availability_zone="nova", backend="file", bootable=True, **fields,
        )  # fmt: skip
        s.add(vol)
        await s.flush()
        return vol.id


def _bdm(vid: str, boot_index: int | None, dot: bool = False, dev: str = "") -> dict[str, Any]:
    return {
        "boot_index": boot_index, "source_type": "volume", "volume_id": vid,
        "delete_on_termination": dot, "device_name": dev or ("/dev/vda" if boot_index == 0
        else "/dev/vdb"), "tag": None, "error": None,
    }  # fmt: skip


async def _volumes(lab: Lab, *ids: str) -> list[tuple[str, str | None]]:
    async with lab.db.session() as s:
        out = []
        for vid in ids:
            vol = await s.get(Volume, vid)
            att = await s.scalar(select(VolumeAttachment).where(VolumeAttachment.volume_id == vid))
            out.append((vol.status if vol else "gone", att.attach_status if att else None))
        return out


async def _fault(lab: Lab, uuid: str) -> str:
    async with lab.db.session() as s:
        fault = await s.scalar(
            select(InstanceFault)
            .where(InstanceFault.instance_uuid == uuid)
            .order_by(InstanceFault.id.desc())
        )
        return fault.message if fault else ""


async def test_boots_from_volume_and_delete_keeps_or_deletes(lab: Lab) -> None:
    await lab.add_hosts(1, vcpus=1)
    await lab.start()
    root, data = await _volume(lab), await _volume(lab)
    bdms = [_bdm(root, 0, dot=True), _bdm(data, None)]
    # The flavor's root disk is not claimed: a 20 GB flavor fits the host's 10 GB.
    flavor = {"id": "2", "name": "big", "vcpus": 1, "ram": 512, "disk": 20, "ephemeral": 0,
              "extra_specs": {}}  # fmt: skip
    (uuid,) = await lab.create(1, block_devices=bdms, image_ref="", flavor=flavor)
    (row,) = await lab.settled([uuid])
    assert row.vm_state == "active", await _fault(lab, uuid)
    spawn = next(m for m in lab.agent.received if m["op"] == "spawn")
    sent = [(v["volume_id"], v["boot_index"], v["device"]) for v in spawn["instance"]["volumes"]]
    assert sent == [(root, 0, "/dev/vda"), (data, None, "/dev/vdb")]
    info = spawn["instance"]["volumes"][0]["connection_info"]
    assert info["driver_volume_type"] == "file" and info["serial"] == root
    assert await _volumes(lab, root, data) == [("in-use", "attached"), ("in-use", "attached")]

    await lab.task(uuid, "deleting")
    await lab.wait([uuid], lambda r: r.deleted)
    # Only the root volume was marked delete_on_termination.
    assert await _volumes(lab, root, data) == [("deleting", None), ("available", None)]


async def test_waits_for_volumes_being_made(lab: Lab) -> None:
    await lab.add_hosts(1)
    await lab.start()
    root = await _volume(lab, status="creating")
    (uuid,) = await lab.create(1, block_devices=[_bdm(root, 0)], image_ref="")
    await lab.conductor.reconciler.run_once()
    row = await lab.row(uuid)
    assert (row.vm_state, row.task_state, row.host) == ("building", "scheduling", None)
    async with lab.db.session() as s:
        vol = await s.get(Volume, root)
        assert vol is not None
        vol.status = "available"
    await lab.bus.publish("conductor", {"type": "build", "instance_uuids": [uuid]})
    (row,) = await lab.settled([uuid])
    assert row.vm_state == "active"
    assert await _volumes(lab, root) == [("in-use", "attached")]


async def test_failed_volume_ends_the_server_in_error(lab: Lab) -> None:
    await lab.add_hosts(1)
    await lab.start()
    bad = await _volume(lab, status="error", status_reason="backend full")
    (uuid,) = await lab.create(1, block_devices=[_bdm(bad, 0)], image_ref="")
    (row,) = await lab.settled([uuid])
    assert row.vm_state == "error"
    fault = await _fault(lab, uuid)
    assert f"Volume {bad} did not become available" in fault and "backend full" in fault
    quota = {**_bdm("", 0), "volume_id": None, "error": "Volume creation failed: over quota"}
    (uuid2,) = await lab.create(1, block_devices=[quota], image_ref="")
    (row,) = await lab.settled([uuid2])
    assert row.vm_state == "error" and "over quota" in await _fault(lab, uuid2)


async def test_failed_spawn_leaves_no_volume_reserved(lab: Lab) -> None:
    hosts = await lab.add_hosts(1)
    lab.agent.fail_spawn_on = set(hosts)
    await lab.start()
    root = await _volume(lab)
    (uuid,) = await lab.create(1, block_devices=[_bdm(root, 0)], image_ref="")
    (row,) = await lab.settled([uuid])
    assert row.vm_state == "error"
    assert await _volumes(lab, root) == [("available", None)]


async def test_volume_taken_meanwhile_fails_readably(lab: Lab) -> None:
    await lab.add_hosts(1)
    await lab.start()
    root = await _volume(lab, status="in-use")
    (uuid,) = await lab.create(1, block_devices=[_bdm(root, 0)], image_ref="")
    (row,) = await lab.settled([uuid])
    assert row.vm_state == "error"
    assert "current status is in-use" in await _fault(lab, uuid)
    assert await _volumes(lab, root) == [("in-use", None)]


async def test_a_volume_still_being_made_for_a_deleted_server_is_deleted_once_made(
    lab: Lab,
) -> None:
    # Nova leaks such volumes (Cinder refuses to delete one that is creating); here the
    # volume role deletes it as soon as its create ends, and one kept by the user stays.
    await lab.add_hosts(1)
    await lab.start()
    root = await _volume(lab, status="creating")
    kept = await _volume(lab, status="creating")
    bdms = [_bdm(root, 0, dot=True), _bdm(kept, None)]
    (uuid,) = await lab.create(1, block_devices=bdms, image_ref="")
    await lab.conductor.reconciler.run_once()  # the build waits for its volumes
    await lab.task(uuid, "deleting")
    await lab.wait([uuid], lambda r: r.deleted)
    assert await _volumes(lab, root, kept) == [("creating", None), ("creating", None)]

    volumes = VolumeService(lab.db, lab.bus, lab.settings)
    await volumes.start(background=False)
    try:
        assert await volumes.work("volume", root) and await volumes.work("volume", kept)
        # The create ended in "deleting" (never "available" for nobody); its hint runs
        # the delete on the bus, as the reconciler would after a lost hint.
        for _ in range(500):
            if (await _volumes(lab, root))[0][0] == "gone":
                break
            await asyncio.sleep(0.02)
        assert await _volumes(lab, root, kept) == [("gone", None), ("available", None)]
    finally:
        await volumes.stop()
