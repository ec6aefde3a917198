"""Nova's security group proxy: ``/os-security-groups`` and ``/os-security-group-rules``
over the Networking v2 groups, in Nova's shapes, with Nova's errors, gone at 2.36."""

from __future__ import annotations

from typing import Any

from tests.compute_api.helpers import V
from tests.conftest import Cloud
from tests.network_api.helpers import V2, create

GROUPS = f"{V}/os-security-groups"
RULES = f"{V}/os-security-group-rules"
MISSING = "3c2a4b9e-0000-4000-8000-000000000001"


def _error(resp: Any, status: int) -> str:
    assert resp.status_code == status, resp.text
    (body,) = resp.json().values()
    assert body["code"] == status
    message: str = body["message"]
    return message


async def _group(cloud: Cloud, name: str = "web", headers: dict[str, str] | None = None) -> Any:
    body = {"security_group": {"name": name, "description": f"{name} servers"}}
    r = await cloud.client.post(GROUPS, json=body, headers=headers or cloud.demo)
    assert r.status_code == 200, r.text
    return r.json()["security_group"]


async def _rule(cloud: Cloud, **rule: Any) -> Any:
    return await cloud.client.post(RULES, json={"security_group_rule": rule}, headers=cloud.demo)


async def test_create_show_update_list_delete(cloud: Cloud) -> None:
    group = await _group(cloud, " a name ")
    assert group == {
        "id": group["id"],
        "name": " a name ",
        "description": " a name  servers",
        "tenant_id": cloud.seeded.demo_project_id,
        "rules": [],  # Neutron's two egress rules: Nova shows ingress rules only
    }
    r = await cloud.client.get(f"{GROUPS}/{group['id']}", headers=cloud.demo)
    assert r.status_code == 200 and r.json()["security_group"] == group
    # The same group through the Networking API.
    r = await cloud.client.get(f"{V2}/security-groups/{group['id']}", headers=cloud.demo)
    assert r.status_code == 200 and r.json()["security_group"]["name"] == " a name "

    body = {"security_group": {"name": "renamed", "description": "new"}}
    r = await cloud.client.put(f"{GROUPS}/{group['id']}", json=body, headers=cloud.demo)
    assert r.status_code == 200, r.text
    assert (r.json()["security_group"]["name"], r.json()["security_group"]["description"]) == (
        "renamed",
        "new",
    )

    listed = (await cloud.client.get(GROUPS, headers=cloud.demo)).json()["security_groups"]
    # Listing makes the project's default group (Neutron's), sorted by project then name.
    assert [g["name"] for g in listed] == ["default", "renamed"]
    default = listed[0]
    assert default["description"] == "Default security group"
    # Its two ingress rules (IPv4 and IPv6 from members of the group) as Nova shows them.
    assert [
        (r["ip_protocol"], r["from_port"], r["to_port"], r["group"], r["ip_range"])
        for r in default["rules"]
    ] == [(None, None, None, {"name": "default", "tenant_id": default["tenant_id"]}, {})] * 2
    assert all(r["parent_group_id"] == default["id"] for r in default["rules"])

    r = await cloud.client.delete(f"{GROUPS}/{group['id']}", headers=cloud.demo)
    assert r.status_code == 202 and r.content == b""
    r = await cloud.client.get(f"{GROUPS}/{group['id']}", headers=cloud.demo)
    assert _error(r, 404) == f"Security group {group['id']} does not exist"


async def test_group_errors(cloud: Cloud) -> None:
    demo = cloud.demo
    for bad_id in ("not-a-uuid", "12"):
        for method in ("get", "delete"):
            r = await getattr(cloud.client, method)(f"{GROUPS}/{bad_id}", headers=demo)
            assert _error(r, 400) == "Security group id should be uuid"
    for method in ("get", "delete"):
        r = await getattr(cloud.client, method)(f"{GROUPS}/{MISSING}", headers=demo)
        assert _error(r, 404) == f"Security group {MISSING} does not exist"
    r = await cloud.client.delete(f"{GROUPS}/", headers=demo)
    assert r.status_code == 404

    r = await cloud.client.post(GROUPS, json={}, headers=demo)
    assert _error(r, 400) == "The request body can't be empty"
    r = await cloud.client.post(GROUPS, json={"other": {}}, headers=demo)
    assert _error(r, 400) == "Missing parameter security_group"
    r = await cloud.client.post(GROUPS, json={"security_group": {"name": "x"}}, headers=demo)
    assert _error(r, 400) == "description is not a string or unicode"
    body = {"security_group": {"name": "x" * 256, "description": ""}}
    assert _error(await cloud.client.post(GROUPS, json=body, headers=demo), 400) == (
        "name has more than 255 characters."
    )
    # Neutron's 409 for a second "default" is Nova's SecurityGroupLimitExceeded (403).
    body = {"security_group": {"name": "default", "description": ""}}
    r = await cloud.client.post(GROUPS, json=body, headers=demo)
    assert _error(r, 403) == "Default security group already exists."

    listed = (await cloud.client.get(GROUPS, headers=demo)).json()["security_groups"]
    default_id = next(g["id"] for g in listed if g["name"] == "default")
    r = await cloud.client.delete(f"{GROUPS}/{default_id}", headers=demo)
    assert _error(r, 400) == "Insufficient rights for removing default security group."
    body = {"security_group": {"name": "other", "description": ""}}
    r = await cloud.client.put(f"{GROUPS}/{default_id}", json=body, headers=demo)
    assert _error(r, 400) == "Updating default security group not allowed."
    # Another project's group does not exist for the caller.
    theirs = await _group(cloud, "theirs", cloud.admin)
    r = await cloud.client.get(f"{GROUPS}/{theirs['id']}", headers=demo)
    assert _error(r, 404) == f"Security group {theirs['id']} does not exist"


async def test_all_tenants_is_for_admins(cloud: Cloud) -> None:
    mine = await _group(cloud, "mine")
    theirs = await _group(cloud, "theirs", cloud.admin)
    r = await cloud.client.get(f"{GROUPS}?all_tenants=true", headers=cloud.demo)
    ids = {g["id"] for g in r.json()["security_groups"]}
    assert mine["id"] in ids and theirs["id"] not in ids
    r = await cloud.client.get(f"{GROUPS}?all_tenants=1", headers=cloud.admin)
    ids = {g["id"] for g in r.json()["security_groups"]}
    assert {mine["id"], theirs["id"]} <= ids
    r = await cloud.client.get(GROUPS, headers=cloud.admin)
    assert mine["id"] not in {g["id"] for g in r.json()["security_groups"]}
    r = await cloud.client.get(f"{GROUPS}?limit=1", headers=cloud.demo)
    assert len(r.json()["security_groups"]) == 1
    r = await cloud.client.get(f"{GROUPS}?limit=x", headers=cloud.demo)
    assert "limit" in _error(r, 400)


async def test_rules_create_shapes(cloud: Cloud) -> None:
    group, peer = await _group(cloud, "g"), await _group(cloud, "peer")
    r = await _rule(cloud, parent_group_id=group["id"], ip_protocol="tcp", from_port=22, to_port=22)
    assert r.status_code == 200, r.text
    rule = r.json()["security_group_rule"]
    assert rule == {
        "id": rule["id"],
        "parent_group_id": group["id"],
        "ip_protocol": "tcp",
        "from_port": 22,
        "to_port": 22,
        "group": {},
        "ip_range": {"cidr": "0.0.0.0/0"},
    }
    r = await _rule(
        cloud,
        parent_group_id=group["id"],
        ip_protocol="tcp",
        from_port=80,
        to_port=80,
        cidr="10.2.3.124/24",
    )
    assert r.json()["security_group_rule"]["ip_range"] == {"cidr": "10.2.3.124/24"}
    r = await _rule(
        cloud, parent_group_id=group["id"], ip_protocol="tcp", group_id=peer["id"]
    )  # no ports with a remote group: the whole range
    by_group = r.json()["security_group_rule"]
    assert (by_group["from_port"], by_group["to_port"]) == (1, 65535)
    assert by_group["group"] == {"name": "peer", "tenant_id": cloud.seeded.demo_project_id}
    assert by_group["ip_range"] == {}
    r = await _rule(
        cloud, parent_group_id=group["id"], ip_protocol="icmp", from_port=-1, to_port=-1
    )
    icmp = r.json()["security_group_rule"]
    assert (icmp["ip_protocol"], icmp["from_port"], icmp["to_port"]) == ("icmp", -1, -1)

    # The Networking API holds them as ingress rules; ICMP's -1 is "no type".
    r = await cloud.client.get(f"{V2}/security-group-rules/{icmp['id']}", headers=cloud.demo)
    neutron = r.json()["security_group_rule"]
    assert (neutron["direction"], neutron["port_range_min"], neutron["ethertype"]) == (
        "ingress",
        None,
        "IPv4",
    )
    shown = (await cloud.client.get(f"{GROUPS}/{group['id']}", headers=cloud.demo)).json()
    assert {r["id"] for r in shown["security_group"]["rules"]} == {
        rule["id"],
        by_group["id"],
        icmp["id"],
        *[
            r["id"]
            for r in shown["security_group"]["rules"]
            if r["ip_range"] == {"cidr": "10.2.3.124/24"}
        ],
    }
    assert len(shown["security_group"]["rules"]) == 4

    r = await cloud.client.delete(f"{RULES}/{rule['id']}", headers=cloud.demo)
    assert r.status_code == 202 and r.content == b""
    r = await cloud.client.delete(f"{RULES}/{rule['id']}", headers=cloud.demo)
    assert _error(r, 404) == f"Security group rule {rule['id']} does not exist"

    # Deleting the remote group takes its rules along (Neutron), so Nova shows none.
    r = await cloud.client.delete(f"{GROUPS}/{peer['id']}", headers=cloud.demo)
    assert r.status_code == 202
    shown = (await cloud.client.get(f"{GROUPS}/{group['id']}", headers=cloud.demo)).json()
    assert by_group["id"] not in {r["id"] for r in shown["security_group"]["rules"]}


async def test_rule_errors(cloud: Cloud) -> None:
    gid = (await _group(cloud))["id"]

    async def err(status: int, **rule: Any) -> str:
        return _error(await _rule(cloud, **rule), status)

    tcp = {"parent_group_id": gid, "ip_protocol": "tcp"}
    assert await err(400, parent_group_id="nope", ip_protocol="tcp", from_port=1, to_port=2) == (
        "Security group id should be uuid"
    )
    assert await err(404, parent_group_id=MISSING, ip_protocol="tcp", from_port=1, to_port=2) == (
        f"Security group {MISSING} does not exist"
    )
    assert await err(400, **tcp, from_port=22, to_port=21) == (
        "Invalid port range 22:21. Former value cannot be greater than the later"
    )
    assert await err(400, **tcp, from_port=22, to_port=65536) == (
        "Invalid port range 22:65536. Valid TCP ports should be between 1-65535"
    )
    assert await err(400, **tcp, from_port="a", to_port=2) == (
        "Invalid input received: To and From ports must be integers"
    )
    assert await err(400, parent_group_id=gid, ip_protocol="999x", from_port=1, to_port=2) == (
        "Invalid IP protocol 999x."
    )
    assert await err(400, parent_group_id=gid, ip_protocol="icmp", from_port=256, to_port=0) == (
        "Invalid port range 256:0. For ICMP, the type:code must be valid"
    )
    assert await err(400, **tcp, from_port=22, to_port=22, cidr="10.0.0.300/8") == (
        "10.0.0.300/8 is not a valid IP network."
    )
    assert await err(400, **tcp, from_port=22, to_port=22, cidr="10.0.0.0") == (
        "10.0.0.0 is not a valid IP network."
    )
    assert await err(400, **tcp, from_port=22, to_port=22, cidr="10.0.0.0/0") == (
        "Bad prefix for network in cidr 10.0.0.0/0"
    )
    assert await err(400, **tcp) == "Not enough parameters to build a valid rule."
    assert await err(400, **tcp, from_port=22, to_port=22, group_id="x") == (
        "Security group id should be uuid"
    )
    assert await err(404, **tcp, from_port=22, to_port=22, group_id=MISSING) == (
        f"Security group {MISSING} does not exist"
    )
    r = await _rule(cloud, **tcp, from_port=22, to_port=22)
    assert r.status_code == 200
    assert await err(400, **tcp, from_port=22, to_port=22) == (
        f"This rule already exists in group {gid}"
    )
    r = await cloud.client.delete(f"{RULES}/abc", headers=cloud.demo)
    assert _error(r, 400) == "Security group id should be uuid"


async def test_gone_at_2_36(cloud: Cloud) -> None:
    gid = (await _group(cloud))["id"]
    h = cloud.headers(cloud.demo_token, "2.36")
    for method, url in (("get", GROUPS), ("get", f"{GROUPS}/{gid}"), ("delete", f"{GROUPS}/{gid}")):
        r = await getattr(cloud.client, method)(url, headers=h)
        assert _error(r, 404) == "The resource could not be found."
    body = {"security_group_rule": {"parent_group_id": gid}}
    r = await cloud.client.post(RULES, json=body, headers=h)
    assert r.status_code == 404
    h = cloud.headers(cloud.demo_token, "2.35")
    assert (await cloud.client.get(f"{GROUPS}/{gid}", headers=h)).status_code == 200
    # Still listed with the other extensions.
    r = await cloud.client.get(f"{V}/extensions/os-security-groups", headers=cloud.demo)
    assert r.json()["extension"]["name"] == "SecurityGroups"


async def test_networking_api_sees_nova_rules(cloud: Cloud) -> None:
    """A group made through Nova's API is an ordinary Neutron group."""
    gid = (await _group(cloud))["id"]
    r = await _rule(cloud, parent_group_id=gid, ip_protocol="udp", from_port=53, to_port=53)
    assert r.status_code == 200
    rules = await cloud.client.get(
        f"{V2}/security-group-rules?security_group_id={gid}", headers=cloud.demo
    )
    ingress = [x for x in rules.json()["security_group_rules"] if x["direction"] == "ingress"]
    assert [(x["protocol"], x["port_range_min"], x["port_range_max"]) for x in ingress] == [
        ("udp", 53, 53)
    ]
    await create(cloud, "security_group", cloud.demo, name="neutron-made")
    listed = (await cloud.client.get(GROUPS, headers=cloud.demo)).json()["security_groups"]
    assert "neutron-made" in {g["name"] for g in listed}
