"""Security groups and rules: the default group, validation, duplicates, deletes."""

from __future__ import annotations

from typing import Any

from tests.conftest import Cloud
from tests.network_api.helpers import V2, create, neutron_error


async def _rule(cloud: Cloud, **attrs: Any) -> Any:
    return await cloud.client.post(
        f"{V2}/security-group-rules", json={"security_group_rule": attrs}, headers=cloud.demo
    )


async def test_default_group_and_rules(cloud: Cloud) -> None:
    listed = (await cloud.client.get(f"{V2}/security-groups", headers=cloud.demo)).json()
    (default,) = listed["security_groups"]
    assert default["name"] == "default"
    rules = {
        (r["direction"], r["ethertype"], r["remote_group_id"])
        for r in default["security_group_rules"]
    }
    assert rules == {
        ("egress", "IPv4", None),
        ("egress", "IPv6", None),
        ("ingress", "IPv4", default["id"]),
        ("ingress", "IPv6", default["id"]),
    }
    again = (await cloud.client.get(f"{V2}/security-groups", headers=cloud.demo)).json()
    assert [g["id"] for g in again["security_groups"]] == [default["id"]]
    gone = await cloud.client.delete(f"{V2}/security-groups/{default['id']}", headers=cloud.demo)
    neutron_error(gone, 409, "SecurityGroupCannotRemoveDefault")
    second = await cloud.client.post(
        f"{V2}/security-groups", json={"security_group": {"name": "default"}}, headers=cloud.demo
    )
    neutron_error(second, 409, "SecurityGroupDefaultAlreadyExists")


async def test_rule_validation_and_duplicates(cloud: Cloud) -> None:
    group = await create(cloud, "security_group", cloud.demo, name="web", description="w")
    assert len(group["security_group_rules"]) == 2  # Neutron's two egress rules
    gid = group["id"]
    icmp = await _rule(cloud, security_group_id=gid, direction="ingress", protocol="icmp")
    assert icmp.status_code == 201 and icmp.json()["security_group_rule"]["protocol"] == "icmp"
    dup = await _rule(cloud, security_group_id=gid, direction="ingress", protocol="icmp")
    rule_id = icmp.json()["security_group_rule"]["id"]
    assert neutron_error(dup, 409, "SecurityGroupRuleExists") == (
        f"Security group rule already exists. Rule id is {rule_id}."
    )
    cases = [
        (
            {"protocol": "tcp", "port_range_min": 90, "port_range_max": 80},
            "SecurityGroupInvalidPortRange",
        ),
        ({"protocol": "foo"}, "SecurityGroupRuleInvalidProtocol"),
        ({"protocol": "tcp", "port_range_max": 6}, "SecurityGroupInvalidPortRange"),
        ({"protocol": "icmp", "port_range_min": 300}, "SecurityGroupInvalidIcmpValue"),
        ({"port_range_min": 22, "port_range_max": 22}, "SecurityGroupProtocolRequiredWithPorts"),
        ({"protocol": "icmp", "port_range_max": 3}, "SecurityGroupMissingIcmpType"),
        (
            {"ethertype": "IPv6", "remote_ip_prefix": "10.0.0.0/8"},
            "SecurityGroupRuleParameterConflict",
        ),
        (
            {"remote_ip_prefix": "10.0.0.0/8", "remote_group_id": gid},
            "SecurityGroupRemoteGroupAndRemoteIpPrefix",
        ),
        ({"ethertype": "IPv5"}, "SecurityGroupRuleInvalidEtherType"),
    ]
    for attrs, kind in cases:
        resp = await _rule(cloud, security_group_id=gid, direction="ingress", **attrs)
        neutron_error(resp, 400, kind)
    ssh = await _rule(
        cloud, security_group_id=gid, direction="ingress", protocol="tcp",
        port_range_min=22, port_range_max=22, remote_ip_prefix="192.0.2.0/24",
    )  # fmt: skip
    assert ssh.status_code == 201
    missing = await _rule(cloud, security_group_id=gid, direction="ingress", remote_group_id="nope")
    neutron_error(missing, 404, "SecurityGroupNotFound")
    rid = ssh.json()["security_group_rule"]["id"]
    assert (
        await cloud.client.delete(f"{V2}/security-group-rules/{rid}", headers=cloud.demo)
    ).status_code == 204
    shown = await cloud.client.get(f"{V2}/security-group-rules/{rid}", headers=cloud.demo)
    neutron_error(shown, 404, "SecurityGroupRuleNotFound")


async def test_group_in_use_and_isolation(cloud: Cloud) -> None:
    group = await create(cloud, "security_group", cloud.demo, name="app")
    net = await create(cloud, "network", cloud.demo)
    port = await create(
        cloud, "port", cloud.demo, network_id=net["id"], security_groups=[group["id"]]
    )
    busy = await cloud.client.delete(f"{V2}/security-groups/{group['id']}", headers=cloud.demo)
    neutron_error(busy, 409, "SecurityGroupInUse")
    hidden = await cloud.client.get(f"{V2}/security-groups/{group['id']}", headers=cloud.admin)
    assert hidden.status_code == 200  # admin sees all
    admin_group = await create(cloud, "security_group", cloud.admin, name="admins")
    other = await cloud.client.get(f"{V2}/security-groups/{admin_group['id']}", headers=cloud.demo)
    neutron_error(other, 404, "SecurityGroupNotFound")
    await cloud.client.delete(f"{V2}/ports/{port['id']}", headers=cloud.demo)
    assert (
        await cloud.client.delete(f"{V2}/security-groups/{group['id']}", headers=cloud.demo)
    ).status_code == 204
