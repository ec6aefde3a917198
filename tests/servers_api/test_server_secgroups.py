"""A server's security groups through Nova's API: ``/servers/{id}/os-security-groups``
and the ``addSecurityGroup`` / ``removeSecurityGroup`` actions, which change the groups
of the server's ports (and make its host re-apply them)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from stockyard.db.models import Instance
from tests.conftest import Cloud
from tests.network_api.helpers import V2, create
from tests.servers_api.conftest import Seed, server_body

V = "/compute/v2.1"


def _error(resp: Any, status: int) -> str:
    assert resp.status_code == status, resp.text
    (body,) = resp.json().values()
    message: str = body["message"]
    return message


async def _server_with_port(cloud: Cloud, seed: Seed) -> tuple[str, str]:
    r = await cloud.client.post(f"{V}/servers", json=server_body(seed), headers=cloud.demo)
    assert r.status_code == 202, r.text
    server_id = r.json()["server"]["id"]
    net = await create(cloud, "network", cloud.demo, name="n")
    await create(
        cloud, "subnet", cloud.demo, network_id=net["id"], ip_version=4, cidr="10.9.0.0/24"
    )
    port = await create(cloud, "port", cloud.demo, network_id=net["id"], device_id=server_id)
    return server_id, port["id"]


async def _group(cloud: Cloud, name: str) -> str:
    body = {"security_group": {"name": name, "description": ""}}
    r = await cloud.client.post(f"{V}/os-security-groups", json=body, headers=cloud.demo)
    assert r.status_code == 200, r.text
    gid: str = r.json()["security_group"]["id"]
    return gid


async def _action(cloud: Cloud, server_id: str, body: Any) -> Any:
    return await cloud.client.post(f"{V}/servers/{server_id}/action", json=body, headers=cloud.demo)


async def _port_groups(cloud: Cloud, port_id: str) -> list[str]:
    r = await cloud.client.get(f"{V2}/ports/{port_id}", headers=cloud.demo)
    groups: list[str] = r.json()["port"]["security_groups"]
    return groups


async def _ports_rev(cloud: Cloud, server_id: str) -> int:
    async with cloud.state.db.session() as session:
        rev = await session.scalar(select(Instance.ports_rev).where(Instance.uuid == server_id))
        return int(rev or 0)


async def test_add_list_remove(cloud: Cloud, seed: Seed) -> None:
    server_id, port_id = await _server_with_port(cloud, seed)
    url = f"{V}/servers/{server_id}/os-security-groups"
    listed = (await cloud.client.get(url, headers=cloud.demo)).json()["security_groups"]
    assert [g["name"] for g in listed] == ["default"]
    default_id = listed[0]["id"]
    assert len(listed[0]["rules"]) == 2

    web = await _group(cloud, "web")
    rev = await _ports_rev(cloud, server_id)
    r = await _action(cloud, server_id, {"addSecurityGroup": {"name": "web"}})
    assert r.status_code == 202 and r.content == b"", r.text
    assert sorted(await _port_groups(cloud, port_id)) == sorted([default_id, web])
    assert await _ports_rev(cloud, server_id) > rev  # the host re-applies the port
    listed = (await cloud.client.get(url, headers=cloud.demo)).json()["security_groups"]
    assert [g["name"] for g in listed] == ["default", "web"]
    # The server's own body names its ports' groups, in show and in the detailed list.
    shown = (await cloud.client.get(f"{V}/servers/{server_id}", headers=cloud.demo)).json()
    assert shown["server"]["security_groups"] == [{"name": "default"}, {"name": "web"}]
    r = await cloud.client.get(f"{V}/servers/detail", headers=cloud.demo)
    (detail,) = r.json()["servers"]
    assert detail["security_groups"] == [{"name": "default"}, {"name": "web"}]
    # By id too; adding a group the ports have changes nothing.
    r = await _action(cloud, server_id, {"addSecurityGroup": {"name": web}})
    assert r.status_code == 202
    assert sorted(await _port_groups(cloud, port_id)) == sorted([default_id, web])

    # In use: Nova's 400 for Neutron's 409.
    r = await cloud.client.delete(f"{V}/os-security-groups/{web}", headers=cloud.demo)
    assert _error(r, 400) == f"Security Group {web} in use."

    r = await _action(cloud, server_id, {"removeSecurityGroup": {"name": "web"}})
    assert r.status_code == 202
    assert await _port_groups(cloud, port_id) == [default_id]
    r = await _action(cloud, server_id, {"removeSecurityGroup": {"name": "web"}})
    assert _error(r, 404) == f"Security group web not associated with the instance {server_id}"
    r = await cloud.client.delete(f"{V}/os-security-groups/{web}", headers=cloud.demo)
    assert r.status_code == 202


async def test_action_errors(cloud: Cloud, seed: Seed) -> None:
    r = await cloud.client.post(f"{V}/servers", json=server_body(seed), headers=cloud.demo)
    bare = r.json()["server"]["id"]
    project = cloud.seeded.demo_project_id
    await _group(cloud, "web")
    assert _error(await _action(cloud, bare, {"addSecurityGroup": "web"}), 400) == (
        "Missing parameter dict"
    )
    assert _error(await _action(cloud, bare, {"addSecurityGroup": {}}), 400) == (
        "Security group not specified"
    )
    assert _error(await _action(cloud, bare, {"addSecurityGroup": {"name": " "}}), 400) == (
        "Security group name cannot be empty"
    )
    r = await _action(cloud, bare, {"addSecurityGroup": {"name": "nope"}})
    assert _error(r, 404) == f"Security group nope is not found for project {project}"
    # A server without ports (the API test cloud binds none).
    r = await _action(cloud, bare, {"addSecurityGroup": {"name": "web"}})
    assert _error(r, 404) == f"instance_id {bare} could not be found as device id on any ports"
    missing = "3c2a4b9e-0000-4000-8000-000000000001"
    r = await _action(cloud, missing, {"removeSecurityGroup": {"name": "web"}})
    assert _error(r, 404) == f"Instance {missing} could not be found."
    await _group(cloud, "web")
    r = await _action(cloud, bare, {"addSecurityGroup": {"name": "web"}})
    assert _error(r, 409) == (
        "Multiple security_group matches found for name 'web', use an ID to be more specific."
    )


async def test_port_without_port_security_refuses(cloud: Cloud, seed: Seed) -> None:
    server_id, port_id = await _server_with_port(cloud, seed)
    r = await cloud.client.put(
        f"{V2}/ports/{port_id}",
        json={"port": {"port_security_enabled": False, "security_groups": []}},
        headers=cloud.demo,
    )
    assert r.status_code == 200, r.text
    await _group(cloud, "web")
    r = await _action(cloud, server_id, {"addSecurityGroup": {"name": "web"}})
    assert _error(r, 400) == (
        "Network requires port_security_enabled and subnet associated in order to apply "
        "security groups."
    )
    # Served at every microversion (only /os-security-groups itself went at 2.36).
    h = cloud.headers(cloud.demo_token, "2.90")
    r = await cloud.client.get(f"{V}/servers/{server_id}/os-security-groups", headers=h)
    assert r.status_code == 200 and r.json() == {"security_groups": []}


async def test_removing_every_group_leaves_the_key_out(cloud: Cloud, seed: Seed) -> None:
    """Tempest's test_remove_server_all_security_groups: Nova shows no security_groups
    for a server whose ports have none (and one without ports has none either)."""
    server_id, port_id = await _server_with_port(cloud, seed)
    r = await _action(cloud, server_id, {"removeSecurityGroup": {"name": "default"}})
    assert r.status_code == 202, r.text
    assert await _port_groups(cloud, port_id) == []
    shown = (await cloud.client.get(f"{V}/servers/{server_id}", headers=cloud.demo)).json()
    assert "security_groups" not in shown["server"]
    # The create response answers the groups asked for, else default.
    await _group(cloud, "web")
    body = server_body(seed, security_groups=[{"name": "web"}])
    r = await cloud.client.post(f"{V}/servers", json=body, headers=cloud.demo)
    assert r.json()["server"]["security_groups"] == [{"name": "web"}]
