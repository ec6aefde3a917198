"""``GET /os-server-groups/{id}/stockyard-placement``: a group's members with the region,
AZ and rack of their hosts, for the group's project and admins only."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from stockyard.db.models import Instance, ServerGroup, ServerGroupMember
from tests.compute_api.helpers import V
from tests.compute_api.test_racks import enrolled
from tests.conftest import Cloud

URL = f"{V}/os-server-groups"
MEMBER_KEYS = {"id", "name", "status", "hostId", "region", "availability_zone", "rack"}


async def make_group(cloud: Cloud, token: str, policy: str, **rules: Any) -> str:
    body = {"server_group": {"name": "db", "policy": policy, "rules": rules}}
    r = await cloud.client.post(URL, json=body, headers=cloud.headers(token, "2.64"))
    assert r.status_code == 200, r.text
    return str(r.json()["server_group"]["id"])


async def add_members(cloud: Cloud, group: str, project: str, hosts: list[str | None]) -> list[str]:
    """One instance per host (None: not placed yet), members of ``group``; their uuids."""
    async with cloud.state.db.session() as s:
        gid = await s.scalar(select(ServerGroup.id).where(ServerGroup.uuid == group))
        assert gid is not None
        insts = []
        for i, host in enumerate(hosts):
            inst = Instance(
                name=f"db-{i + 1}",
                project_id=project,
                user_id="u",
                flavor_id="f",
                vm_state="active" if host else "building",
                task_state=None if host else "scheduling",
                host=host,
                node=host,
            )
            s.add(inst)
            insts.append(inst)
        await s.flush()
        for inst in insts:
            s.add(ServerGroupMember(group_id=gid, instance_uuid=inst.uuid))
        return [i.uuid for i in insts]


async def placement(cloud: Cloud, group: str, headers: dict[str, str]) -> Any:
    return await cloud.client.get(f"{URL}/{group}/stockyard-placement", headers=headers)


async def test_member_reads_the_failure_domains_of_its_group(cloud: Cloud) -> None:
    await enrolled(cloud)
    demo = cloud.seeded.demo_project_id
    group = await make_group(cloud, cloud.demo_token, "anti-affinity", failure_domain="rack")
    uuids = await add_members(cloud, group, demo, ["alpha", "echo", "kilo", None])
    r = await placement(cloud, group, cloud.demo)
    assert r.status_code == 200, r.text
    body = r.json()["server_group_placement"]
    assert {k: body[k] for k in ("id", "name", "policy", "failure_domain", "rule_met")} == {
        "id": group,
        "name": "db",
        "policy": "anti-affinity",
        "failure_domain": "rack",
        "rule_met": True,
    }
    members = body["members"]
    assert [m["id"] for m in members] == uuids
    assert all(set(m) == MEMBER_KEYS for m in members)  # no host names for members
    where = [(m["region"], m["availability_zone"], m["rack"]) for m in members]
    assert where == [
        ("RegionOne", "az1", "r1"),
        ("RegionOne", "az1", "r2"),
        ("RegionOne", "az2", "r1"),
        (None, None, None),
    ]
    assert [m["status"] for m in members] == ["ACTIVE", "ACTIVE", "ACTIVE", "BUILD"]
    assert len({m["hostId"] for m in members[:3]}) == 3 and members[3]["hostId"] == ""
    # Nova's own group body is untouched by the extension.
    r = await cloud.client.get(f"{URL}/{group}", headers=cloud.headers(cloud.demo_token, "2.64"))
    assert set(r.json()["server_group"]) == {
        *("id", "name", "policy", "rules", "members", "project_id", "user_id")
    }


async def test_rule_met_follows_the_policy_and_the_level(cloud: Cloud) -> None:
    await enrolled(cloud)
    demo = cloud.seeded.demo_project_id

    async def met(policy: str, hosts: list[str | None], **rules: Any) -> bool:
        group = await make_group(cloud, cloud.demo_token, policy, **rules)
        await add_members(cloud, group, demo, hosts)
        r = await placement(cloud, group, cloud.demo)
        assert r.status_code == 200, r.text
        return bool(r.json()["server_group_placement"]["rule_met"])

    # alpha and bravo share rack r1 of az1; echo is r2 of az1; kilo is r1 of az2.
    assert await met("anti-affinity", ["alpha", "bravo"], failure_domain="rack") is False
    assert await met("anti-affinity", ["alpha", "bravo"]) is True  # host level
    assert await met("anti-affinity", ["alpha", "alpha"]) is False
    assert await met("anti-affinity", ["alpha", "alpha"], max_server_per_host=2) is True
    assert await met("soft-anti-affinity", ["alpha", "echo"], failure_domain="az") is False
    assert await met("soft-anti-affinity", ["alpha", "kilo"], failure_domain="az") is True
    assert await met("anti-affinity", ["alpha", "kilo", "zulu"], failure_domain="region") is False
    assert await met("affinity", ["alpha", "echo"], failure_domain="az") is True
    assert await met("affinity", ["alpha", "kilo"], failure_domain="az") is False
    assert await met("soft-affinity", [None, "echo"], failure_domain="rack") is True


async def test_other_projects_get_404_and_admins_see_all(cloud: Cloud) -> None:
    await enrolled(cloud)
    demo = cloud.seeded.demo_project_id
    group = await make_group(cloud, cloud.demo_token, "anti-affinity", failure_domain="az")
    await add_members(cloud, group, demo, ["alpha", "kilo"])
    r = await placement(cloud, group, cloud.admin)
    assert r.status_code == 200, r.text
    assert r.json()["server_group_placement"]["rule_met"] is True
    assert len(r.json()["server_group_placement"]["members"]) == 2

    # The admin project's group is another project's to demo: 404, Nova's error body.
    theirs = await make_group(cloud, cloud.admin_token, "affinity")
    r = await placement(cloud, theirs, cloud.demo)
    assert r.status_code == 404
    assert r.json() == {
        "itemNotFound": {"code": 404, "message": f"Instance group {theirs} could not be found."}
    }
    r = await placement(cloud, "no-such-group", cloud.demo)
    assert r.status_code == 404 and "itemNotFound" in r.json()
    # Also under the project-prefixed path Nova accepts.
    r = await cloud.client.get(
        f"{V}/{demo}/os-server-groups/{group}/stockyard-placement", headers=cloud.demo
    )
    assert r.status_code == 200, r.text


async def test_openapi_documents_the_extension(cloud: Cloud) -> None:
    spec = (await cloud.client.get("/openapi.json")).json()
    path = spec["paths"]["/compute/v2.1/os-server-groups/{group_id}/stockyard-placement"]
    assert "rack" in path["get"]["description"]
    assert "GroupPlacementBody" in str(path["get"]["responses"]["200"])
