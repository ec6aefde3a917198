"""``GET /servers/detail`` shows each server exactly as ``GET /servers/{id}`` does.

The list builds its bodies from batched queries (one per kind per page) while show
loads one server; both must agree for a server with addresses, attached volumes, a
fault, tags and metadata, for members and admins, across microversions.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import update

from stockyard.db.models import Instance, InstanceFault, Volume, VolumeAttachment, VolumeType
from tests.conftest import Cloud
from tests.servers_api.conftest import Seed, server_body

# Every driver: the list reads JSON columns as text and decodes them itself.
pytestmark = pytest.mark.backend("sqlite", "postgresql", "mariadb")

V = "/compute/v2.1"
VERSIONS = ["2.1", "2.3", "2.16", "2.26", "2.47", "2.71", "2.79", "2.96"]
ADDRESSES = {
    "private": [
        {
            "version": 4,
            "addr": "10.0.0.5",
            "OS-EXT-IPS:type": "fixed",
            "OS-EXT-IPS-MAC:mac_addr": "fa:16:3e:00:00:05",
        }
    ]
}


async def _rich_servers(cloud: Cloud, seed: Seed) -> list[str]:
    """Three servers of the demo project: one ERROR with a fault and volumes, one ACTIVE
    with addresses, tags and metadata, one plain."""
    r = await cloud.client.post(
        f"{V}/servers",
        json=server_body(seed, min_count=3, max_count=3, metadata={"role": "db"}),
        headers=cloud.headers(cloud.demo_token, "2.52"),
    )
    assert r.status_code == 202, r.text
    listed = await cloud.client.get(f"{V}/servers", headers=cloud.demo)
    ids = sorted(s["id"] for s in listed.json()["servers"])
    async with cloud.state.db.session() as session:
        vtype = VolumeType(name="t-list", extra_specs={})
        session.add(vtype)
        await session.flush()
        project = cloud.seeded.demo_project_id
        for n, boot_index in ((0, None), (1, 0)):
            vol = Volume(
                project_id=project,
                user_id="u",
                size=1,
                volume_type_id=vtype.id,
                availability_zone="az1",
                status="in-use",
            )
            session.add(vol)
            await session.flush()
            session.add(
                VolumeAttachment(
                    volume_id=vol.id,
                    project_id=project,
                    instance_uuid=ids[0],
                    attach_status="attached",
                    delete_on_termination=bool(n),
                    boot_index=boot_index,
                )
            )
        for message in ("older fault", "No valid host was found."):
            session.add(
                InstanceFault(
                    instance_uuid=ids[0],
                    code=500,
                    message=message,
                    details="filters: RamFilter",
                    created_at=datetime(2026, 1, 2, 3, 4, 5),
                )
            )
        await session.execute(
            update(Instance).where(Instance.uuid == ids[0]).values(vm_state="error", host="h0")
        )
        await session.execute(
            update(Instance)
            .where(Instance.uuid == ids[1])
            .values(
                vm_state="active",
                host="h1",
                node="h1",
                addresses=ADDRESSES,
                tags=["web", "blue"],
                metadata_={"role": "web", "tier": "front"},
                launched_at=datetime(2026, 1, 2, 3, 4, 5, 123456),
                locked=True,
                locked_reason="maintenance",
                description="the web one",
            )
        )
        await session.commit()
    return ids


@pytest.mark.parametrize("who", ["demo", "admin"])
async def test_detail_list_equals_show(cloud: Cloud, seed: Seed, who: str) -> None:
    ids = await _rich_servers(cloud, seed)
    token = cloud.demo_token if who == "demo" else cloud.admin_token
    query = "" if who == "demo" else "?all_tenants=1"
    for version in VERSIONS:
        h = cloud.headers(token, version)
        r = await cloud.client.get(f"{V}/servers/detail{query}", headers=h)
        assert r.status_code == 200, r.text
        listed = {s["id"]: s for s in r.json()["servers"]}
        assert set(ids) <= set(listed)
        for sid in ids:
            shown = (await cloud.client.get(f"{V}/servers/{sid}", headers=h)).json()["server"]
            # Nova's list leaves out server_groups (2.71+: show only).
            shown.pop("server_groups", None)
            assert listed[sid] == shown, (version, sid)
        fault = listed[ids[0]]
        assert fault["fault"]["message"] == "No valid host was found."
        assert len(fault["os-extended-volumes:volumes_attached"]) == 2
        web = listed[ids[1]]
        assert web["addresses"] == ADDRESSES
        assert web["metadata"] == {"role": "web", "tier": "front"}
        if version >= "2.26" and version != "2.3":
            assert web["tags"] == ["web", "blue"]
