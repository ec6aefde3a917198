"""``networks`` of ``POST /servers`` against Networking v2: Nova's errors and codes, the
user's port reserved for the server, the port quota checked at create."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from stockyard.db.models import Instance
from tests.conftest import Cloud
from tests.network_api.helpers import V2, create
from tests.servers_api.conftest import Seed, server_body

SERVERS = "/compute/v2.1/servers"


async def _post(cloud: Cloud, seed: Seed, networks: Any, mv: str = "2.79", **extra: Any) -> Any:
    h = cloud.headers(cloud.demo_token, mv)
    return await cloud.client.post(
        SERVERS, json=server_body(seed, networks=networks, **extra), headers=h
    )


def _error(resp: Any, status: int) -> str:
    assert resp.status_code == status, resp.text
    (body,) = resp.json().values()
    assert body["code"] == status
    message: str = body["message"]
    return message


async def _net(cloud: Cloud, name: str, cidr: str) -> tuple[str, str]:
    net = await create(cloud, "network", cloud.demo, name=name)
    sub = await create(cloud, "subnet", cloud.demo, network_id=net["id"], ip_version=4, cidr=cidr)
    return net["id"], sub["id"]


async def _stored(cloud: Cloud) -> list[list[Any] | None]:
    async with cloud.state.db.session() as s:
        return [
            i.requested_networks for i in await s.scalars(select(Instance).order_by(Instance.id))
        ]


async def _count(cloud: Cloud) -> int:
    async with cloud.state.db.session() as s:
        return int(await s.scalar(select(func.count()).select_from(Instance)) or 0)


async def test_unknown_networks_and_ports_are_400(cloud: Cloud, seed: Seed) -> None:
    missing = "3c2a4b9e-0000-4000-8000-000000000001"
    resp = await _post(cloud, seed, [{"uuid": missing}])
    assert _error(resp, 400) == f"Network {missing} could not be found."
    resp = await _post(cloud, seed, [{"uuid": "not-a-uuid"}])
    assert "network uuid is not in proper format (not-a-uuid)" in _error(resp, 400)
    resp = await _post(cloud, seed, [{"port": missing}])
    assert _error(resp, 400) == f"Port id {missing} could not be found."
    resp = await _post(cloud, seed, [{"fixed_ip": "10.0.0.5"}])
    assert _error(resp, 400) == "Bad network format: missing 'uuid'"
    # Another project's private network is not found either.
    other = await create(cloud, "network", cloud.admin, name="admins")
    resp = await _post(cloud, seed, [{"uuid": other["id"]}])
    assert _error(resp, 400) == f"Network {other['id']} could not be found."
    assert await _count(cloud) == 0


async def test_auto_picks_the_projects_one_network_or_refuses_two(cloud: Cloud, seed: Seed) -> None:
    resp = await _post(cloud, seed, "auto")
    assert resp.status_code == 202, resp.text
    net_a, _ = await _net(cloud, "a", "192.168.10.0/24")
    resp = await _post(cloud, seed, "auto")
    assert resp.status_code == 202, resp.text
    await _net(cloud, "b", "192.168.11.0/24")
    resp = await _post(cloud, seed, "auto")
    assert _error(resp, 409) == (
        "More than one possible network found. Specify network ID(s) to select which one(s) "
        "to connect to."
    )
    resp = await _post(cloud, seed, "none")
    assert resp.status_code == 202
    # No network of its own: the region's provider network; one: that one; none: no port.
    assert await _stored(cloud) == [[{"provider": True}], [{"uuid": net_a}], []]


async def test_fixed_ips_are_checked(cloud: Cloud, seed: Seed) -> None:
    net, _ = await _net(cloud, "a", "192.168.20.0/24")
    resp = await _post(cloud, seed, [{"uuid": net, "fixed_ip": "10.9.9.9"}])
    assert _error(resp, 400) == f"Fixed IP address 10.9.9.9 is not valid for network {net}."
    resp = await _post(cloud, seed, [{"uuid": net, "fixed_ip": "nonsense"}])
    assert _error(resp, 400) == "Invalid fixed IP address (nonsense)"
    port = await create(
        cloud, "port", cloud.demo, network_id=net, fixed_ips=[{"ip_address": "192.168.20.7"}]
    )
    resp = await _post(cloud, seed, [{"uuid": net, "fixed_ip": "192.168.20.7"}])
    assert "Fixed IP address 192.168.20.7 is already in use" in _error(resp, 400)
    resp = await _post(cloud, seed, [{"uuid": net, "fixed_ip": "192.168.20.8"}], max_count=2)
    assert "max_count cannot be greater than 1 if an fixed_ip is specified" in _error(resp, 400)
    resp = await _post(cloud, seed, [{"uuid": net, "fixed_ip": "192.168.20.8"}])
    assert resp.status_code == 202, resp.text
    assert (await _stored(cloud))[-1] == [{"uuid": net, "fixed_ip": "192.168.20.8"}]
    assert port["device_id"] == ""


async def test_a_users_port_is_reserved_and_then_in_use(cloud: Cloud, seed: Seed) -> None:
    net, _ = await _net(cloud, "a", "192.168.30.0/24")
    port = await create(cloud, "port", cloud.demo, network_id=net)
    resp = await _post(cloud, seed, [{"port": port["id"]}], max_count=2)
    assert "single configured port ID" in _error(resp, 400)
    resp = await _post(cloud, seed, [{"port": port["id"]}])
    assert resp.status_code == 202, resp.text
    sid = resp.json()["server"]["id"]
    shown = await cloud.client.get(f"{V2}/ports/{port['id']}", headers=cloud.demo)
    assert shown.json()["port"]["device_id"] == sid
    resp = await _post(cloud, seed, [{"port": port["id"]}])
    assert _error(resp, 409) == f"Port {port['id']} is still in use."


async def test_tags_follow_the_microversion(cloud: Cloud, seed: Seed) -> None:
    net, _ = await _net(cloud, "a", "192.168.40.0/24")
    resp = await _post(cloud, seed, [{"uuid": net, "tag": "nic1"}], mv="2.37")
    assert "('tag' was unexpected)" in _error(resp, 400)
    resp = await _post(cloud, seed, [{"uuid": net, "tag": "nic1"}], mv="2.42")
    assert resp.status_code == 202, resp.text
    assert (await _stored(cloud))[-1] == [{"uuid": net, "tag": "nic1"}]


async def test_the_port_quota_is_checked_at_create(cloud: Cloud, seed: Seed) -> None:
    net, _ = await _net(cloud, "a", "192.168.50.0/24")
    demo = cloud.seeded.demo_project_id
    resp = await cloud.client.put(
        f"{V2}/quotas/{demo}", json={"quota": {"port": 2}}, headers=cloud.admin
    )
    assert resp.status_code == 200, resp.text
    await create(cloud, "port", cloud.demo, network_id=net)
    resp = await _post(cloud, seed, [{"uuid": net}], max_count=2, min_count=2)
    assert _error(resp, 403) == "Maximum number of ports exceeded"
    resp = await _post(cloud, seed, [{"uuid": net}])
    assert resp.status_code == 202, resp.text
    assert await _count(cloud) == 1
