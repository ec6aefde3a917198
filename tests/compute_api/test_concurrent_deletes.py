"""Two deletes of one keypair, flavor, server group, aggregate or compute service at once:
one succeeds, the other answers Nova's itemNotFound, as a delete of a missing one does."""

from __future__ import annotations

import pytest

from stockyard.db.models import Aggregate, Flavor, Host, KeyPair, ServerGroup
from tests.compute_api.helpers import V, add_host
from tests.concurrent_deletes import deleted_once
from tests.conftest import Cloud

BACKENDS = pytest.mark.backend("sqlite", "postgresql", "mariadb")


async def _post(cloud: Cloud, path: str, body: object, headers: dict[str, str]) -> dict:
    r = await cloud.client.post(f"{V}/{path}", json=body, headers=headers)
    assert r.status_code == 200, r.text
    result: dict = r.json()
    return result


def _not_found(message: str) -> dict[str, object]:
    return {"itemNotFound": {"code": 404, "message": message}}


@BACKENDS
async def test_a_keypair_deleted_twice_at_once_is_deleted_once(cloud: Cloud) -> None:
    await _post(cloud, "os-keypairs", {"keypair": {"name": "k1"}}, cloud.demo)
    user_id = cloud.seeded.demo_user_id
    where = (KeyPair.user_id == user_id, KeyPair.name == "k1")
    body = await deleted_once(cloud, f"{V}/os-keypairs/k1", KeyPair, *where, ok=202)
    assert body == _not_found(f"Keypair k1 not found for user {user_id}")


@BACKENDS
async def test_a_flavor_deleted_twice_at_once_is_deleted_once(cloud: Cloud) -> None:
    body = {"flavor": {"name": "m1.small", "ram": 2048, "vcpus": 1, "disk": 20, "id": "small"}}
    await _post(cloud, "flavors", body, cloud.admin)
    url = f"{V}/flavors/small"
    error = await deleted_once(
        cloud, url, Flavor, Flavor.flavorid == "small", headers=cloud.admin, ok=202
    )
    assert error == _not_found("Flavor small could not be found.")


@BACKENDS
async def test_a_server_group_deleted_twice_at_once_is_deleted_once(cloud: Cloud) -> None:
    body = {"server_group": {"name": "web", "policies": ["anti-affinity"]}}
    group = (await _post(cloud, "os-server-groups", body, cloud.demo))["server_group"]
    url = f"{V}/os-server-groups/{group['id']}"
    error = await deleted_once(cloud, url, ServerGroup, ServerGroup.uuid == group["id"])
    assert error == _not_found(f"Instance group {group['id']} could not be found.")


@BACKENDS
async def test_an_aggregate_deleted_twice_at_once_is_deleted_once(cloud: Cloud) -> None:
    body = {"aggregate": {"name": "a"}}
    agg = (await _post(cloud, "os-aggregates", body, cloud.admin))["aggregate"]
    url = f"{V}/os-aggregates/{agg['id']}"
    where = Aggregate.id == agg["id"]
    error = await deleted_once(cloud, url, Aggregate, where, headers=cloud.admin, ok=200)
    assert error == _not_found(f"Aggregate {agg['id']} could not be found.")


@BACKENDS
async def test_a_compute_service_deleted_twice_at_once_is_deleted_once(cloud: Cloud) -> None:
    host = await add_host(cloud, "c1")
    url = f"{V}/os-services/{host.uuid}"
    h = cloud.headers(cloud.admin_token, "2.53")
    error = await deleted_once(cloud, url, Host, Host.id == host.id, headers=h)
    assert error == _not_found(f"Service {host.uuid} could not be found.")
