import asyncio

from stockyard.api.compute.quota_engine import bind_settings, check_quota
from stockyard.api.errors import APIError
from stockyard.db.models import Instance
from tests.compute_api.helpers import V, add_instance
from tests.conftest import Cloud


async def test_quota_set_show_update_revert(cloud: Cloud) -> None:
    project = cloud.seeded.demo_project_id
    url = f"{V}/os-quota-sets/{project}"
    r = await cloud.client.get(url, headers=cloud.demo)
    qs = r.json()["quota_set"]
    assert qs["id"] == project and qs["instances"] == 10 and "floating_ips" in qs
    r = await cloud.client.get(url, headers=cloud.headers(cloud.demo_token, "2.57"))
    qs = r.json()["quota_set"]
    assert "floating_ips" not in qs and "injected_files" not in qs
    r = await cloud.client.get(
        f"{V}/os-quota-sets/{cloud.seeded.admin_project_id}", headers=cloud.demo
    )
    assert r.status_code == 403
    r = await cloud.client.put(url, json={"quota_set": {"instances": 5}}, headers=cloud.demo)
    assert r.status_code == 403
    r = await cloud.client.put(url, json={"quota_set": {"instances": 5}}, headers=cloud.admin)
    assert r.json()["quota_set"]["instances"] == 5
    for bad in ({"instances": -2}, {"cores": "x"}, {"nope": 1}):
        r = await cloud.client.put(url, json={"quota_set": bad}, headers=cloud.admin)
        assert r.status_code == 400
        assert next(iter(bad)) in r.json()["badRequest"]["message"]
    await add_instance(cloud, project, vcpus=2, ram=1024)
    r = await cloud.client.get(f"{url}/detail", headers=cloud.demo)
    detail = r.json()["quota_set"]
    assert detail["instances"] == {"limit": 5, "in_use": 1, "reserved": 0}
    assert detail["cores"]["in_use"] == 2 and detail["ram"]["in_use"] == 1024
    r = await cloud.client.put(url, json={"quota_set": {"instances": 0}}, headers=cloud.admin)
    assert r.status_code == 400
    r = await cloud.client.put(
        url, json={"quota_set": {"instances": 0, "force": True}}, headers=cloud.admin
    )
    assert r.json()["quota_set"]["instances"] == 0
    r = await cloud.client.delete(url, headers=cloud.admin)
    assert r.status_code == 202
    r = await cloud.client.get(url, headers=cloud.demo)
    assert r.json()["quota_set"]["instances"] == 10
    r = await cloud.client.get(f"{url}/defaults", headers=cloud.demo)
    assert r.json()["quota_set"]["cores"] == 20


async def test_limits(cloud: Cloud) -> None:
    await add_instance(cloud, cloud.seeded.demo_project_id, vcpus=4, ram=2048)
    h = cloud.headers(cloud.demo_token, "2.79")
    r = await cloud.client.get(f"{V}/limits", headers=h)
    limits = r.json()["limits"]
    assert limits["rate"] == []
    absolute = limits["absolute"]
    assert absolute["maxTotalInstances"] == 10 and absolute["totalInstancesUsed"] == 1
    assert absolute["totalCoresUsed"] == 4 and absolute["totalRAMUsed"] == 2048
    assert absolute["maxTotalKeypairs"] == 100 and absolute["totalServerGroupsUsed"] == 0
    assert "maxPersonality" not in absolute
    r = await cloud.client.get(f"{V}/limits", headers=cloud.demo)
    assert "maxPersonality" in r.json()["limits"]["absolute"]
    r = await cloud.client.get(
        f"{V}/limits?tenant_id={cloud.seeded.admin_project_id}", headers=cloud.demo
    )
    assert r.status_code == 403


async def test_quota_exceeded_message(cloud: Cloud) -> None:
    project = cloud.seeded.demo_project_id
    for _ in range(8):
        await add_instance(cloud, project)
    async with cloud.state.db.sessionmaker() as session:
        bind_settings(session, cloud.state.settings)
        try:
            await check_quota(session, project, "u", {"instances": 3})
        except APIError as exc:
            assert exc.status == 403
            assert exc.message == (
                "Quota exceeded for instances: Requested 3, but already used 8 of 10 instances"
            )
        else:
            raise AssertionError("quota not enforced")
        # The same transaction may check again (the lock is re-entrant).
        await check_quota(session, project, "u", {"instances": 2})


async def test_concurrent_checks_never_overcommit(cloud: Cloud) -> None:
    project = cloud.seeded.demo_project_id

    async def create_one() -> bool:
        async with cloud.state.db.sessionmaker() as session:
            bind_settings(session, cloud.state.settings)
            try:
                await check_quota(session, project, "u", {"instances": 1, "cores": 1})
            except APIError:
                return False
            # Let the other coroutines run while this one holds the lock.
            await asyncio.sleep(0)
            session.add(
                Instance(
                    name="vm",
                    project_id=project,
                    user_id="u",
                    flavor_id="f",
                    flavor={"vcpus": 1, "ram": 1},
                )
            )
            await session.commit()
            return True

    results = await asyncio.gather(*(create_one() for _ in range(50)))
    assert sum(results) == 10
    r = await cloud.client.get(f"{V}/limits", headers=cloud.demo)
    assert r.json()["limits"]["absolute"]["totalInstancesUsed"] == 10
