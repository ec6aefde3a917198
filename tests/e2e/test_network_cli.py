"""Networking v2 with the real ``openstack`` CLI against ``stockyard up``: network, subnet,
port and security group CRUD, provider networks, quotas, member isolation and the 409
of a network that still has ports."""

from __future__ import annotations

from tests.e2e.conftest import RunningCloud


def test_network_subnet_port_lifecycle(running_cloud: RunningCloud) -> None:
    c = running_cloud
    net = c.os_json("network", "create", "e2e-net")
    assert net["status"] == "ACTIVE" and net["mtu"] == 1500
    sub = c.os_json(
        "subnet", "create", "--network", "e2e-net", "--subnet-range", "192.168.77.0/24", "e2e-sub"
    )
    assert sub["gateway_ip"] == "192.168.77.1"
    assert sub["allocation_pools"] == [{"start": "192.168.77.2", "end": "192.168.77.254"}]
    port = c.os_json(
        "port", "create", "--network", "e2e-net",
        "--fixed-ip", "subnet=e2e-sub,ip-address=192.168.77.10", "e2e-port",
    )  # fmt: skip
    assert port["fixed_ips"] == [{"subnet_id": sub["id"], "ip_address": "192.168.77.10"}]
    assert port["mac_address"].startswith("fa:16:3e:")
    auto = c.os_json("port", "create", "--network", "e2e-net", "e2e-auto")
    assert auto["fixed_ips"][0]["ip_address"] == "192.168.77.2"
    clash = c.os(
        "port", "create", "--network", "e2e-net",
        "--fixed-ip", "ip-address=192.168.77.10", "clash", check=False,
    )  # fmt: skip
    assert clash.returncode != 0 and "already allocated" in clash.stderr
    listed = c.os_json("port", "list", "--network", "e2e-net")
    assert {p["Name"] for p in listed} == {"e2e-port", "e2e-auto"}

    busy = c.os("network", "delete", "e2e-net", check=False)
    assert busy.returncode != 0
    assert "There are one or more ports still in use on the network" in busy.stderr
    c.os("port", "delete", "e2e-port", "e2e-auto")
    c.os("network", "delete", "e2e-net")
    assert all(n["Name"] != "e2e-net" for n in c.os_json("network", "list"))


def test_security_groups_and_rules(running_cloud: RunningCloud) -> None:
    c = running_cloud
    groups = c.os_json("security", "group", "list", cloud="stockyard")
    assert [g["Name"] for g in groups] == ["default"]
    group = c.os_json("security", "group", "create", "--description", "web tier", "e2e-web")
    rule = c.os_json("security", "group", "rule", "create", "--protocol", "icmp", "e2e-web")
    assert rule["protocol"] == "icmp" and rule["direction"] == "ingress"
    dup = c.os("security", "group", "rule", "create", "--protocol", "icmp", "e2e-web", check=False)
    assert dup.returncode != 0 and "already exists" in dup.stderr
    ssh = c.os_json(
        "security", "group", "rule", "create", "--protocol", "tcp", "--dst-port", "22",
        "--remote-ip", "10.0.0.0/8", "e2e-web",
    )  # fmt: skip
    assert ssh["port_range_min"] == 22 and ssh["port_range_max"] == 22
    rules = c.os_json("security", "group", "rule", "list", "e2e-web")
    assert len(rules) == 4  # two egress defaults + icmp + ssh
    c.os("security", "group", "rule", "delete", ssh["id"])
    c.os("security", "group", "delete", group["id"])
    default = c.os("security", "group", "delete", "default", cloud="stockyard", check=False)
    assert default.returncode != 0


def test_provider_network_quota_and_isolation(running_cloud: RunningCloud) -> None:
    c = running_cloud
    vlan = c.os_json(
        "network", "create", "--provider-network-type", "vlan",
        "--provider-physical-network", "physnet1", "--provider-segment", "120", "e2e-vlan",
    )  # fmt: skip
    assert vlan["provider:segmentation_id"] == 120
    again = c.os(
        "network", "create", "--provider-network-type", "vlan",
        "--provider-physical-network", "physnet1", "--provider-segment", "120", "dup", check=False,
    )  # fmt: skip
    assert again.returncode != 0 and "is in use" in again.stderr
    member = c.os("network", "show", "e2e-vlan", cloud="stockyard", check=False)
    assert member.returncode != 0  # another project's private network is not found
    denied = c.os(
        "network", "create", "--provider-network-type", "flat",
        "--provider-physical-network", "lab", "nope", cloud="stockyard", check=False,
    )  # fmt: skip
    assert denied.returncode != 0

    c.os("quota", "set", "--networks", "1", "demo")
    rows = c.os_json("quota", "show", "--network", "demo")
    assert {r["Resource"]: r["Limit"] for r in rows}["networks"] == 1
    c.os("network", "create", "e2e-demo", cloud="stockyard")
    over = c.os("network", "create", "e2e-demo2", cloud="stockyard", check=False)
    assert over.returncode != 0 and "Quota exceeded" in over.stderr
    c.os("network", "delete", "e2e-demo", cloud="stockyard")
    c.os("network", "delete", "e2e-vlan")
