"""Block Storage os-services (the volume role's heartbeats) and what microversions
3.4-3.44 change in the shapes of served resources."""

from __future__ import annotations

from tempest.lib.api_schema.response.volume import services as services_schema
from tempest.lib.api_schema.response.volume import volumes as schema
from tempest.lib.api_schema.response.volume.v3_7 import services as services_37

from stockyard.volume.service import VolumeService
from tests.conftest import Cloud
from tests.volume_api.helpers import V3, conform, create_volume, vh, wait_status


async def test_volume_service_list(cloud: Cloud, volumes: VolumeService) -> None:
    body = conform(
        services_schema.list_services,
        await cloud.client.get(f"{V3}/os-services", headers=vh(cloud.admin_token)),
    )
    rows = {(s["binary"], s["host"].partition("@")[2], s["state"]) for s in body["services"]}
    backends = set(cloud.state.settings.volume_backends)
    assert rows == {("cinder-scheduler", "", "up")} | {
        ("cinder-volume", name, "up") for name in backends
    }
    at_37 = conform(
        services_37.list_services,
        await cloud.client.get(
            f"{V3}/os-services?binary=cinder-volume", headers=vh(cloud.admin_token, "3.7")
        ),
    )
    assert {s["binary"] for s in at_37["services"]} == {"cinder-volume"}
    assert all(s["cluster"] is None for s in at_37["services"])
    member = await cloud.client.get(f"{V3}/os-services", headers=vh(cloud.demo_token))
    assert member.status_code == 403
    # Nova's os-services lists compute's processes only.
    nova = await cloud.client.get("/compute/v2.1/os-services", headers=cloud.admin)
    assert not [s for s in nova.json()["services"] if s["binary"].startswith("cinder-")]


async def test_microversion_shapes(cloud: Cloud, volumes: VolumeService) -> None:
    vol = await create_volume(cloud, cloud.demo_token, name="alpha-one", metadata={"k": "v"})
    path = f"{V3}/volumes/{vol['id']}"
    await wait_status(cloud, cloud.demo_token, path, "volume", "available")
    await create_volume(cloud, cloud.demo_token, name="beta", size=2)
    demo = cloud.demo_token
    old = (await cloud.client.get(path, headers=vh(demo, "3.12"))).json()["volume"]
    assert "group_id" not in old
    new = conform(schema.show_volume, await cloud.client.get(path, headers=vh(demo, "3.44")))
    assert new["volume"]["group_id"] is None and "provider_id" not in new["volume"]
    admin = (await cloud.client.get(path, headers=vh(cloud.admin_token, "3.21"))).json()
    assert admin["volume"]["provider_id"] is None

    assert (await cloud.client.get(f"{V3}/volumes/summary", headers=vh(demo))).status_code == 404
    summary = (await cloud.client.get(f"{V3}/volumes/summary", headers=vh(demo, "3.12"))).json()
    assert summary == {"volume-summary": {"total_size": 3, "total_count": 2}}
    summary = (await cloud.client.get(f"{V3}/volumes/summary", headers=vh(demo, "3.36"))).json()
    assert summary["volume-summary"]["metadata"] == {"k": ["v"]}

    async def names(query: str, version: str) -> set[str]:
        resp = await cloud.client.get(f"{V3}/volumes?{query}", headers=vh(demo, version))
        assert resp.status_code == 200, resp.text
        return {v["name"] for v in resp.json()["volumes"]}

    assert await names("name~=alpha", "3.34") == {"alpha-one"}
    assert await names("name~=alpha", "3.33") == {"alpha-one", "beta"}  # ignored before
    assert await names("glance_metadata={'k': 'v'}", "3.4") == set()
    assert await names("group_id=x", "3.10") == set()

    snap = await cloud.client.post(
        f"{V3}/snapshots", json={"snapshot": {"volume_id": vol["id"]}}, headers=vh(demo)
    )
    sid = snap.json()["snapshot"]["id"]
    await wait_status(cloud, demo, f"{V3}/snapshots/{sid}", "snapshot", "available")
    shown = (await cloud.client.get(f"{V3}/snapshots/{sid}", headers=vh(demo, "3.41"))).json()
    assert shown["snapshot"]["user_id"]
    earlier = (await cloud.client.get(f"{V3}/snapshots/{sid}", headers=vh(demo, "3.40"))).json()
    assert "user_id" not in earlier["snapshot"]
    listed = await cloud.client.get(
        f"{V3}/snapshots?metadata={{'a': 'b'}}", headers=vh(demo, "3.22")
    )
    assert listed.json()["snapshots"] == []
    too_high = await cloud.client.get(path, headers=vh(demo, "3.45"))
    assert too_high.status_code == 406
