from typing import Any

from stockyard.api.compute.zones import effective_az, host_zone_map, zone_of_host
from tests.compute_api.helpers import V, add_host
from tests.conftest import Cloud


async def test_zone_list_uses_effective_zone(cloud: Cloud) -> None:
    await add_host(cloud, "h1", az="az1")
    await add_host(cloud, "h2", az="az2", status="disabled")
    await add_host(cloud, "h3", az="az1")
    r = await cloud.client.get(f"{V}/os-availability-zone", headers=cloud.demo)
    info = r.json()["availabilityZoneInfo"]
    assert info == [
        {"zoneName": "az1", "zoneState": {"available": True}, "hosts": None},
        {"zoneName": "az2", "zoneState": {"available": False}, "hosts": None},
    ]
    r = await cloud.client.post(
        f"{V}/os-aggregates",
        json={"aggregate": {"name": "fast", "availability_zone": "gold"}},
        headers=cloud.admin,
    )
    agg = r.json()["aggregate"]
    r = await cloud.client.post(
        f"{V}/os-aggregates/{agg['id']}/action",
        json={"add_host": {"host": "h3"}},
        headers=cloud.admin,
    )
    assert r.json()["aggregate"]["hosts"] == ["h3"]
    r = await cloud.client.get(f"{V}/os-availability-zone", headers=cloud.demo)
    assert [z["zoneName"] for z in r.json()["availabilityZoneInfo"]] == ["az1", "az2", "gold"]
    r = await cloud.client.get(f"{V}/os-availability-zone/detail", headers=cloud.demo)
    assert r.status_code == 403
    r = await cloud.client.get(f"{V}/os-availability-zone/detail", headers=cloud.admin)
    gold = next(z for z in r.json()["availabilityZoneInfo"] if z["zoneName"] == "gold")
    service = gold["hosts"]["h3"]["nova-compute"]
    assert service["available"] is True and service["active"] is True


async def test_aggregate_lifecycle_and_errors(cloud: Cloud) -> None:
    await add_host(cloud, "h1")
    url = f"{V}/os-aggregates"
    r = await cloud.client.post(url, json={"aggregate": {"name": "a"}}, headers=cloud.demo)
    assert r.status_code == 403
    r = await cloud.client.get(url, headers=cloud.demo)
    assert r.status_code == 403
    r = await cloud.client.post(url, json={"aggregate": {"name": "a"}}, headers=cloud.admin)
    agg_id = r.json()["aggregate"]["id"]
    r = await cloud.client.post(url, json={"aggregate": {"name": "a"}}, headers=cloud.admin)
    assert r.status_code == 409
    r = await cloud.client.post(url, json={"aggregate": {"name": ""}}, headers=cloud.admin)
    assert r.status_code == 400 and "name" in r.text
    action = f"{url}/{agg_id}/action"
    r = await cloud.client.post(action, json={"add_host": {"host": "nope"}}, headers=cloud.admin)
    assert r.status_code == 404
    await cloud.client.post(action, json={"add_host": {"host": "h1"}}, headers=cloud.admin)
    r = await cloud.client.post(action, json={"add_host": {"host": "h1"}}, headers=cloud.admin)
    assert r.status_code == 409
    r = await cloud.client.delete(f"{url}/{agg_id}", headers=cloud.admin)
    assert r.status_code == 409
    meta = {"set_metadata": {"metadata": {"ssd": "true", "availability_zone": "z9"}}}
    r = await cloud.client.post(action, json=meta, headers=cloud.admin)
    agg = r.json()["aggregate"]
    assert agg["availability_zone"] == "z9"
    assert agg["metadata"] == {"ssd": "true", "availability_zone": "z9"}
    unset: dict[str, Any] = {"set_metadata": {"metadata": {"ssd": None}}}
    r = await cloud.client.post(action, json=unset, headers=cloud.admin)
    assert r.json()["aggregate"]["metadata"] == {"availability_zone": "z9"}
    # A host cannot join a second aggregate in another zone.
    r = await cloud.client.post(
        url, json={"aggregate": {"name": "b", "availability_zone": "z8"}}, headers=cloud.admin
    )
    other = f"{url}/{r.json()['aggregate']['id']}/action"
    r = await cloud.client.post(other, json={"add_host": {"host": "h1"}}, headers=cloud.admin)
    assert r.status_code == 409 and "z9" in r.text
    r = await cloud.client.put(
        f"{url}/{agg_id}", json={"aggregate": {"name": "renamed"}}, headers=cloud.admin
    )
    assert r.json()["aggregate"]["name"] == "renamed"
    r = await cloud.client.put(f"{url}/{agg_id}", json={"aggregate": {}}, headers=cloud.admin)
    assert r.status_code == 400
    r = await cloud.client.post(action, json={"remove_host": {"host": "h1"}}, headers=cloud.admin)
    assert r.json()["aggregate"]["hosts"] == []
    r = await cloud.client.post(action, json={"remove_host": {"host": "h1"}}, headers=cloud.admin)
    assert r.status_code == 404
    r = await cloud.client.delete(f"{url}/{agg_id}", headers=cloud.admin)
    assert r.status_code == 200
    r = await cloud.client.get(f"{url}/{agg_id}", headers=cloud.admin)
    assert r.status_code == 404


def test_effective_az_rule() -> None:
    assert effective_az("az1", []) == "az1"
    assert effective_az("az1", [None]) == "az1"
    assert effective_az("az1", [None, "gold"]) == "gold"


async def test_zone_of_host_and_map(cloud: Cloud) -> None:
    await add_host(cloud, "h1", az="az1")
    await add_host(cloud, "h2", az="az1")
    r = await cloud.client.post(
        f"{V}/os-aggregates", json={"aggregate": {"name": "a"}}, headers=cloud.admin
    )
    action = f"{V}/os-aggregates/{r.json()['aggregate']['id']}/action"
    await cloud.client.post(action, json={"add_host": {"host": "h2"}}, headers=cloud.admin)
    async with cloud.state.db.session() as session:
        # An aggregate without a zone leaves the host's own zone.
        assert await zone_of_host(session, "h2") == "az1"
    meta = {"set_metadata": {"metadata": {"availability_zone": "edge"}}}
    await cloud.client.post(action, json=meta, headers=cloud.admin)
    async with cloud.state.db.session() as session:
        assert await zone_of_host(session, "h2") == "edge"
        assert await zone_of_host(session, "nope") is None
        assert await host_zone_map(session) == {"h1": "az1", "h2": "edge"}
