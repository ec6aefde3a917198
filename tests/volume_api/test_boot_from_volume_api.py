"""Server create with ``block_device_mapping_v2`` (boot from volume): Nova's validation
refusals, what is recorded and created, the server's ``image`` "" and its volumes in
the PUT and rebuild responses. The build itself is in tests/conductor/test_boot_volumes.py
and, through the CLI, tests/e2e/test_boot_from_volume_cli.py."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from stockyard.db.models import Flavor, Instance, Volume, VolumeAttachment
from stockyard.volume.service import VolumeService
from tests.conftest import Cloud
from tests.volume_api.helpers import V3, create_volume, upload_image, vh, wait_status

V = "/compute/v2.1"
QEMU_IMG = Path("/usr/bin/qemu-img").exists()


async def _flavor(cloud: Cloud) -> str:
    async with cloud.state.db.session() as s:
        s.add(Flavor(flavorid="bfv", name="bfv.small", vcpus=1, ram=512, disk=20))
    return "bfv"


async def _image(cloud: Cloud) -> str:
    return await upload_image(cloud)


async def _available(cloud: Cloud, **fields: Any) -> str:
    vol = await create_volume(cloud, cloud.demo_token, **fields)
    await wait_status(cloud, cloud.demo_token, f"{V3}/volumes/{vol['id']}", "volume", "available")
    return str(vol["id"])


async def _create(cloud: Cloud, bdms: list[Any], image: str = "", **extra: Any) -> Any:
    body = {"server": {"name": "bfv", "flavorRef": "bfv", "imageRef": image,
                       "block_device_mapping_v2": bdms, **extra}}  # fmt: skip
    return await cloud.client.post(f"{V}/servers", json=body, headers=cloud.demo)


def _vol(vid: str, boot_index: Any = 0, **extra: Any) -> dict[str, Any]:
    return {"uuid": vid, "source_type": "volume", "destination_type": "volume",
            "boot_index": boot_index, **extra}  # fmt: skip


async def test_refusals(cloud: Cloud, volumes: VolumeService) -> None:
    await _flavor(cloud)
    image = await _image(cloud)
    empty = await _available(cloud)  # not bootable
    cases: list[tuple[list[Any], str, dict[str, Any]]] = [
        ([{"uuid": image, "source_type": "image", "destination_type": "volume",
           "boot_index": 0}],
         "Images with destination_type 'volume' need to have a non-zero size specified", {}),
        ([_vol("00000000-0000-0000-0000-000000000000")],
         "Block Device Mapping is Invalid: failed to get volume", {}),
        ([_vol(empty)], f"Block Device {empty} is not bootable.", {}),
        ([_vol(empty, source_type="disk")], "field/attribute source_type", {}),
        ([_vol(empty, boot_index="x")], "field/attribute boot_index", {}),
        ([_vol(empty, delete_on_termination="yes")], "delete_on_termination", {}),
        ([_vol(empty, boot_index=None)], "Boot sequence for the instance", {}),
        ([_vol(empty, boot_index=2)], "Boot sequence for the instance", {"imageRef": image}),
        ([{"source_type": "blank", "destination_type": "volume", "boot_index": 0}],
         "Blank volumes (source: 'blank', dest: 'volume') need to have non-zero size", {}),
        ([{"source_type": "blank", "destination_type": "local", "boot_index": -1}],
         "local ephemeral and swap disks are not supported", {"imageRef": image}),
        ([_vol(empty, boot_index=None)], "cannot be attached to 2 servers at once",
         {"imageRef": image, "min_count": 2}),
        ([_vol(empty, bogus=1)], "Additional properties are not allowed", {}),
    ]  # fmt: skip
    for bdms, message, extra in cases:
        r = await _create(cloud, bdms, **extra)
        assert r.status_code == 400 and message in r.json()["badRequest"]["message"], (bdms, r.text)
    # A volume that is not available is refused too; nothing was created by refusals.
    async with cloud.state.db.session() as s:
        row = await s.get(Volume, empty)
        assert row is not None
        row.status, row.bootable = "in-use", True
    r = await _create(cloud, [_vol(empty)])
    assert r.status_code == 400 and "status must be 'available'. Currently in 'in-use'" in r.text
    async with cloud.state.db.session() as s:
        assert (await s.scalar(select(Instance).limit(1))) is None


async def test_volume_backed_server_records_and_views(cloud: Cloud, volumes: VolumeService) -> None:
    await _flavor(cloud)
    image = await _image(cloud)
    root = await _available(cloud, imageRef=image) if QEMU_IMG else None
    if root is None:
        pytest.skip("qemu-img (qemu-utils) not installed")
    data = await _available(cloud)
    bdms = [
        _vol(root, delete_on_termination=True),
        _vol(data, boot_index=None, device_name="/dev/vdc"),
    ]
    r = await _create(cloud, bdms)
    assert r.status_code == 202, r.text
    sid = r.json()["server"]["id"]
    shown = (await cloud.client.get(f"{V}/servers/{sid}", headers=cloud.demo)).json()["server"]
    assert shown["image"] == ""
    async with cloud.state.db.session() as s:
        inst = await s.scalar(select(Instance).where(Instance.uuid == sid))
        assert inst is not None
        got = [(m["volume_id"], m["boot_index"], m["device_name"], m["delete_on_termination"])
               for m in inst.block_devices]  # fmt: skip
        assert got == [(root, 0, "/dev/vda", True), (data, None, "/dev/vdc", False)]
        # As the build leaves them (tests/conductor covers the build): attached.
        row = inst
        row.vm_state, row.task_state, row.host = "active", None, "h0"
        for vid, boot in ((root, 0), (data, None)):
            s.add(VolumeAttachment(volume_id=vid, project_id=row.project_id, instance_uuid=sid,
                                   attach_status="attached", boot_index=boot,
                                   delete_on_termination=vid == root))  # fmt: skip
    h = cloud.headers(cloud.demo_token, "2.79")
    put = await cloud.client.put(f"{V}/servers/{sid}", json={"server": {"name": "n2"}}, headers=h)
    attached = put.json()["server"]["os-extended-volumes:volumes_attached"]
    assert attached == [{"id": root, "delete_on_termination": True},
                        {"id": data, "delete_on_termination": False}]  # fmt: skip
    other = await _image(cloud)
    refused = await cloud.client.post(
        f"{V}/servers/{sid}/action", json={"rebuild": {"imageRef": other}}, headers=h
    )
    assert refused.status_code == 400 and "volume-backed" in refused.text
    rebuilt = await cloud.client.post(
        f"{V}/servers/{sid}/action", json={"rebuild": {"imageRef": image}}, headers=h
    )
    assert rebuilt.status_code == 202, rebuilt.text
    body = rebuilt.json()["server"]
    assert body["image"] == "" and len(body["os-extended-volumes:volumes_attached"]) == 2


async def test_volumes_made_from_image_blank_and_quota(
    cloud: Cloud, volumes: VolumeService
) -> None:
    if not QEMU_IMG:
        pytest.skip("qemu-img (qemu-utils) not installed")
    await _flavor(cloud)
    image = await _image(cloud)
    bdms = [
        {"uuid": image, "source_type": "image", "destination_type": "volume",
         "boot_index": 0, "volume_size": 1, "delete_on_termination": True},
        {"source_type": "blank", "destination_type": "volume", "volume_size": 1},
    ]  # fmt: skip
    hints: list[Any] = []

    async def heard(message: Any) -> None:
        hints.append(message)

    await cloud.state.bus.subscribe("scheduler", heard)
    r = await _create(cloud, bdms)
    assert r.status_code == 202, r.text
    sid = r.json()["server"]["id"]
    async with cloud.state.db.session() as s:
        inst = await s.scalar(select(Instance).where(Instance.uuid == sid))
        assert inst is not None
        made = [m["volume_id"] for m in inst.block_devices]
    root = await wait_status(cloud, cloud.demo_token, f"{V3}/volumes/{made[0]}", "volume",
                             "available")  # fmt: skip
    assert root["bootable"] == "true" and root["size"] == 1
    blank = await wait_status(cloud, cloud.demo_token, f"{V3}/volumes/{made[1]}", "volume",
                              "available")  # fmt: skip
    assert blank["name"] == f"{sid}-blank-vol" and blank["bootable"] == "false"
    # The create's build hint, then one per volume made: the build goes on at once.
    await asyncio.sleep(0.05)
    assert sum(sid in h.get("instance_uuids", []) for h in hints) >= 3, hints

    # Over the volume quota: the create is accepted (Nova makes volumes at build time)
    # and the mapping keeps the reason the build fails the server with.
    project = cloud.seeded.demo_project_id
    q = await cloud.client.put(f"{V3}/os-quota-sets/{project}",
                               json={"quota_set": {"volumes": 2}},
                               headers=vh(cloud.admin_token))  # fmt: skip
    assert q.status_code == 200, q.text
    r = await _create(cloud, bdms[:1])
    assert r.status_code == 202, r.text
    async with cloud.state.db.session() as s:
        inst = await s.scalar(select(Instance).where(Instance.uuid == r.json()["server"]["id"]))
        assert inst is not None
        (m,) = inst.block_devices
    assert m["volume_id"] is None and "Maximum number of volumes allowed (2)" in m["error"]
