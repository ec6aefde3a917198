"""Racks as host aggregates: what admins read after enrolment, and how putting a host into
a rack aggregate moves the scheduler's failure-domain data with it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from stockyard.db.models import Host
from stockyard.lab.enroll import enroll
from stockyard.lab.model import Lab, parse_lab
from stockyard.placement.hoststate import load_host_states
from tests.compute_api.helpers import V
from tests.conftest import Cloud

AGG = f"{V}/os-aggregates"
NOVA_KEYS = {
    *("id", "name", "availability_zone", "created_at", "updated_at", "deleted_at"),
    *("deleted", "hosts", "metadata", "uuid"),
}


def lab() -> Lab:
    """Host names that say nothing of where the hosts are."""

    def rack(name: str, *hosts: str) -> dict[str, Any]:
        return {"name": name, "hypervisors": [{"name": h} for h in hosts]}

    return parse_lab(
        {
            "regions": [
                {
                    "name": "RegionOne",
                    "cidr": "10.10.0.0/16",
                    "azs": [
                        {
                            "name": "az1",
                            "racks": [rack("r1", "alpha", "bravo"), rack("r2", "echo")],
                        },
                        {"name": "az2", "racks": [rack("r1", "kilo")]},
                    ],
                },
                {
                    "name": "RegionTwo",
                    "cidr": "10.20.0.0/16",
                    "azs": [{"name": "az3", "racks": [rack("r9", "zulu")]}],
                },
            ]
        }
    )


async def enrolled(cloud: Cloud) -> None:
    async with cloud.state.db.session() as s:
        await enroll(s, lab(), cloud.state.settings)


async def aggregates(cloud: Cloud) -> dict[str, dict[str, Any]]:
    r = await cloud.client.get(AGG, headers=cloud.headers(cloud.admin_token, "2.41"))
    assert r.status_code == 200, r.text
    return {a["name"]: a for a in r.json()["aggregates"]}


async def host_rows(cloud: Cloud) -> dict[str, tuple[str, str, str]]:
    async with cloud.state.db.session() as s:
        rows = await s.execute(select(Host.name, Host.region, Host.az, Host.rack))
        return {n: (r, az, rack) for n, r, az, rack in rows.all()}


async def action(cloud: Cloud, agg_id: int, body: dict[str, Any]) -> Any:
    return await cloud.client.post(f"{AGG}/{agg_id}/action", json=body, headers=cloud.admin)


async def test_admin_reads_racks_as_aggregates(cloud: Cloud) -> None:
    await enrolled(cloud)
    aggs = await aggregates(cloud)
    assert set(aggs) == {
        "RegionOne/az1/r1",
        "RegionOne/az1/r2",
        "RegionOne/az2/r1",
        "RegionTwo/az3/r9",
    }
    r1 = aggs["RegionOne/az1/r1"]
    assert set(r1) == NOVA_KEYS  # Nova's aggregate shape, nothing added
    assert r1["availability_zone"] == "az1" and r1["hosts"] == ["alpha", "bravo"]
    assert r1["metadata"] == {
        "stockyard:failure_domain": "rack",
        "stockyard:region": "RegionOne",
        "stockyard:rack": "r1",
        "availability_zone": "az1",
    }
    assert aggs["RegionTwo/az3/r9"]["hosts"] == ["zulu"]
    r = await cloud.client.get(f"{AGG}/{r1['id']}", headers=cloud.admin)
    assert r.json()["aggregate"]["hosts"] == ["alpha", "bravo"]
    # Members do not see aggregates (Nova's policy); the zone list is what it was.
    assert (await cloud.client.get(AGG, headers=cloud.demo)).status_code == 403
    r = await cloud.client.get(f"{V}/os-availability-zone", headers=cloud.demo)
    assert [z["zoneName"] for z in r.json()["availabilityZoneInfo"]] == ["az1", "az2", "az3"]
    r = await cloud.client.get(f"{V}/os-availability-zone/detail", headers=cloud.admin)
    zones = {z["zoneName"]: sorted(z["hosts"]) for z in r.json()["availabilityZoneInfo"]}
    assert zones == {"az1": ["alpha", "bravo", "echo"], "az2": ["kilo"], "az3": ["zulu"]}


async def test_putting_a_host_in_a_rack_moves_the_schedulers_data(cloud: Cloud) -> None:
    await enrolled(cloud)
    aggs = await aggregates(cloud)
    # An operator describes a new rack of az1 and moves bravo there.
    r = await cloud.client.post(
        AGG, json={"aggregate": {"name": "row 4", "availability_zone": "az1"}}, headers=cloud.admin
    )
    new = r.json()["aggregate"]["id"]
    meta = {
        "stockyard:failure_domain": "rack",
        "stockyard:region": "RegionOne",
        "stockyard:rack": "r4",
    }
    r = await action(cloud, new, {"set_metadata": {"metadata": meta}})
    assert r.status_code == 200, r.text
    r = await action(cloud, new, {"add_host": {"host": "bravo"}})
    assert r.status_code == 409 and "already in rack aggregate RegionOne/az1/r1" in r.text
    r = await action(cloud, aggs["RegionOne/az1/r1"]["id"], {"remove_host": {"host": "bravo"}})
    assert r.status_code == 200, r.text
    assert (await host_rows(cloud))["bravo"] == ("RegionOne", "az1", "r1")  # until it joins one
    r = await action(cloud, new, {"add_host": {"host": "bravo"}})
    assert r.status_code == 200, r.text
    assert (await host_rows(cloud))["bravo"] == ("RegionOne", "az1", "r4")
    async with cloud.state.db.session() as s:
        states = {h.name: h for h in await load_host_states(s)}
    assert states["bravo"].rack_key == "RegionOne/az1/r4"
    assert states["alpha"].rack_key == "RegionOne/az1/r1"

    # A host of another region cannot join; renaming the rack renames it for its hosts.
    r = await action(cloud, new, {"add_host": {"host": "zulu"}})
    assert r.status_code == 409 and "already in availability zone(s) ['az3']" in r.text
    await action(cloud, aggs["RegionTwo/az3/r9"]["id"], {"remove_host": {"host": "zulu"}})
    r = await action(cloud, new, {"add_host": {"host": "zulu"}})
    assert r.status_code == 409 and "not in region RegionOne" in r.text
    r = await action(cloud, new, {"set_metadata": {"metadata": {"stockyard:rack": "r5"}}})
    assert r.status_code == 200, r.text
    assert r.json()["aggregate"]["metadata"]["stockyard:rack"] == "r5"
    assert (await host_rows(cloud))["bravo"] == ("RegionOne", "az1", "r5")

    # Moving the whole rack to another zone moves its hosts (Nova's zone rule holds).
    r = await cloud.client.put(
        f"{AGG}/{new}", json={"aggregate": {"availability_zone": "az2"}}, headers=cloud.admin
    )
    assert r.status_code == 200, r.text
    assert (await host_rows(cloud))["bravo"] == ("RegionOne", "az2", "r5")
    r = await cloud.client.get(f"{V}/os-availability-zone/detail", headers=cloud.admin)
    zones = {z["zoneName"]: sorted(z["hosts"]) for z in r.json()["availabilityZoneInfo"]}
    assert zones["az2"] == ["bravo", "kilo"]


async def test_rack_metadata_is_checked(cloud: Cloud) -> None:
    await enrolled(cloud)
    aggs = await aggregates(cloud)
    r1 = aggs["RegionOne/az1/r1"]["id"]
    r = await cloud.client.post(AGG, json={"aggregate": {"name": "x"}}, headers=cloud.admin)
    x = r.json()["aggregate"]["id"]
    fd = "stockyard:failure_domain"
    cases = [
        ({fd: "row"}, "Only 'rack' is supported"),
        ({fd: "rack", "stockyard:rack": "r7"}, "stockyard:region, availability_zone"),
        (
            {
                fd: "rack",
                "stockyard:region": "Nowhere",
                "stockyard:rack": "r7",
                "availability_zone": "az1",
            },
            "No such region",
        ),
        (
            {
                fd: "rack",
                "stockyard:region": "RegionOne",
                "stockyard:rack": "r1",
                "availability_zone": "az1",
            },
            "rack RegionOne/az1/r1 is already",
        ),
    ]
    for meta, message in cases:
        r = await action(cloud, x, {"set_metadata": {"metadata": meta}})
        assert r.status_code == 400, (meta, r.text)
        assert message in r.json()["badRequest"]["message"], (meta, r.text)
    # A rack keeps its zone and its region's hosts.
    r = await action(cloud, r1, {"set_metadata": {"metadata": {"availability_zone": None}}})
    assert r.status_code == 400 and "availability_zone" in r.text
    r = await action(cloud, r1, {"set_metadata": {"metadata": {"stockyard:region": "RegionTwo"}}})
    assert r.status_code == 400 and "not in region RegionTwo" in r.text
    # A plain aggregate with hosts of two racks cannot become one rack.
    await action(cloud, x, {"add_host": {"host": "alpha"}})
    meta = {
        fd: "rack",
        "stockyard:region": "RegionOne",
        "stockyard:rack": "r8",
        "availability_zone": "az1",
    }
    r = await action(cloud, x, {"set_metadata": {"metadata": meta}})
    assert r.status_code == 400 and "already in another rack: alpha (RegionOne/az1/r1)" in r.text
    # Dropping the marker makes it a plain aggregate again; the hosts keep their racks.
    r = await action(cloud, r1, {"set_metadata": {"metadata": {fd: None}}})
    assert r.status_code == 200, r.text
    assert (await host_rows(cloud))["alpha"] == ("RegionOne", "az1", "r1")
