"""Ports: IPAM allocation, requested addresses, MACs, security groups, binding, listing."""

from __future__ import annotations

from typing import Any

from tests.conftest import Cloud
from tests.network_api.helpers import V2, create, neutron_error


async def _net_with_subnet(
    cloud: Cloud, cidr: str = "10.20.0.0/24"
) -> tuple[dict[str, Any], dict[str, Any]]:
    net = await create(cloud, "network", cloud.demo, name="n")
    sub = await create(cloud, "subnet", cloud.demo, network_id=net["id"], ip_version=4, cidr=cidr)
    return net, sub


async def test_automatic_and_requested_addresses(cloud: Cloud) -> None:
    net, sub = await _net_with_subnet(cloud)
    first = await create(cloud, "port", cloud.demo, network_id=net["id"])
    assert first["fixed_ips"] == [{"subnet_id": sub["id"], "ip_address": "10.20.0.2"}]
    assert first["mac_address"].startswith("fa:16:3e:") and first["status"] == "DOWN"
    fixed = await create(
        cloud, "port", cloud.demo, network_id=net["id"], fixed_ips=[{"ip_address": "10.20.0.50"}]
    )
    assert fixed["fixed_ips"][0]["ip_address"] == "10.20.0.50"
    clash = await cloud.client.post(
        f"{V2}/ports",
        json={"port": {"network_id": net["id"], "fixed_ips": [{"ip_address": "10.20.0.50"}]}},
        headers=cloud.demo,
    )
    assert neutron_error(clash, 409, "IpAddressAlreadyAllocated") == (
        f"IP address 10.20.0.50 already allocated in subnet {sub['id']}"
    )
    outside = await cloud.client.post(
        f"{V2}/ports",
        json={"port": {"network_id": net["id"], "fixed_ips": [{"ip_address": "10.99.0.5"}]}},
        headers=cloud.demo,
    )
    neutron_error(outside, 400, "InvalidIpForNetwork")
    # Deleting a port frees its address: the next automatic port gets it back.
    assert (
        await cloud.client.delete(f"{V2}/ports/{first['id']}", headers=cloud.demo)
    ).status_code == 204
    again = await create(cloud, "port", cloud.demo, network_id=net["id"])
    assert again["fixed_ips"][0]["ip_address"] == "10.20.0.2"
    moved = await cloud.client.put(
        f"{V2}/ports/{again['id']}",
        json={"port": {"fixed_ips": [{"subnet_id": sub["id"], "ip_address": "10.20.0.60"}]}},
        headers=cloud.demo,
    )
    assert moved.json()["port"]["fixed_ips"] == [
        {"subnet_id": sub["id"], "ip_address": "10.20.0.60"}
    ]
    reuse = await create(
        cloud, "port", cloud.demo, network_id=net["id"], fixed_ips=[{"ip_address": "10.20.0.2"}]
    )
    assert reuse["fixed_ips"][0]["ip_address"] == "10.20.0.2"


async def test_full_subnet_is_generation_failure(cloud: Cloud) -> None:
    net, _ = await _net_with_subnet(cloud, "10.21.0.0/30")  # one usable address
    await create(cloud, "port", cloud.demo, network_id=net["id"])
    full = await cloud.client.post(
        f"{V2}/ports", json={"port": {"network_id": net["id"]}}, headers=cloud.demo
    )
    neutron_error(full, 409, "IpAddressGenerationFailure")


async def test_mac_security_groups_and_binding(cloud: Cloud) -> None:
    net, _ = await _net_with_subnet(cloud)
    port = await create(
        cloud, "port", cloud.demo, network_id=net["id"], mac_address="fa:16:3e:00:00:01"
    )
    dup = await cloud.client.post(
        f"{V2}/ports",
        json={"port": {"network_id": net["id"], "mac_address": "fa:16:3e:00:00:01"}},
        headers=cloud.demo,
    )
    neutron_error(dup, 409, "MacAddressInUse")
    groups = (await cloud.client.get(f"{V2}/security-groups", headers=cloud.demo)).json()
    (default,) = [g for g in groups["security_groups"] if g["name"] == "default"]
    assert port["security_groups"] == [default["id"]]
    assert "binding:host_id" not in port and port["binding:vnic_type"] == "normal"
    denied = await cloud.client.put(
        f"{V2}/ports/{port['id']}", json={"port": {"binding:host_id": "hv1"}}, headers=cloud.demo
    )
    neutron_error(denied, 403, "PolicyNotAuthorized")
    bound = await cloud.client.put(
        f"{V2}/ports/{port['id']}", json={"port": {"binding:host_id": "hv1"}}, headers=cloud.admin
    )
    body = bound.json()["port"]
    assert body["binding:host_id"] == "hv1" and body["binding:vif_type"] == "bridge"
    assert body["status"] == "ACTIVE"
    insecure = await create(
        cloud, "port", cloud.demo, network_id=net["id"], port_security_enabled=False
    )
    assert insecure["security_groups"] == []
    conflict = await cloud.client.post(
        f"{V2}/ports",
        json={"port": {"network_id": net["id"], "port_security_enabled": False,
                       "security_groups": [default["id"]]}},
        headers=cloud.demo,
    )  # fmt: skip
    neutron_error(conflict, 400, "PortSecurityAndIPRequiredForSecurityGroups")


async def test_filters_fields_sorting_pagination(cloud: Cloud) -> None:
    net, _ = await _net_with_subnet(cloud)
    ids = []
    for i in range(5):
        port = await create(
            cloud,
            "port",
            cloud.demo,
            network_id=net["id"],
            name=f"p{i}",
            device_id="vm1" if i < 2 else "",
        )
        ids.append(port["id"])
    by_device = await cloud.client.get(
        f"{V2}/ports", params={"device_id": "vm1"}, headers=cloud.demo
    )
    assert sorted(p["name"] for p in by_device.json()["ports"]) == ["p0", "p1"]
    by_ip = await cloud.client.get(
        f"{V2}/ports", params={"fixed_ips": "ip_address=10.20.0.4"}, headers=cloud.demo
    )
    assert [p["name"] for p in by_ip.json()["ports"]] == ["p2"]
    fields = await cloud.client.get(
        f"{V2}/ports", params=[("fields", "id"), ("fields", "name")], headers=cloud.demo
    )
    assert all(set(p) == {"id", "name"} for p in fields.json()["ports"])
    query = {"sort_key": "name", "sort_dir": "desc", "limit": "2"}
    first = (await cloud.client.get(f"{V2}/ports", params=query, headers=cloud.demo)).json()
    assert [p["name"] for p in first["ports"]] == ["p4", "p3"]
    nxt = next(link for link in first["ports_links"] if link["rel"] == "next")
    second = (await cloud.client.get(nxt["href"], headers=cloud.demo)).json()
    assert [p["name"] for p in second["ports"]] == ["p2", "p1"]
    prev = next(link for link in second["ports_links"] if link["rel"] == "previous")
    back = (await cloud.client.get(prev["href"], headers=cloud.demo)).json()
    assert [p["name"] for p in back["ports"]] == ["p4", "p3"]
    last = (
        await cloud.client.get(
            f"{V2}/ports", params={**query, "marker": second["ports"][-1]["id"]}, headers=cloud.demo
        )
    ).json()
    assert [p["name"] for p in last["ports"]] == ["p0"]
    assert all(link["rel"] != "next" for link in last["ports_links"])


async def test_other_projects_port_is_not_found(cloud: Cloud) -> None:
    net = await create(cloud, "network", cloud.admin, name="admin-net")
    port = await create(cloud, "port", cloud.admin, network_id=net["id"])
    hidden = await cloud.client.get(f"{V2}/ports/{port['id']}", headers=cloud.demo)
    neutron_error(hidden, 404, "PortNotFound")
    listed = await cloud.client.get(f"{V2}/ports", headers=cloud.demo)
    assert listed.json()["ports"] == []


async def test_bulk_create_is_all_or_nothing(cloud: Cloud) -> None:
    net, _ = await _net_with_subnet(cloud)
    two = {
        "ports": [{"network_id": net["id"], "name": "a"}, {"network_id": net["id"], "name": "b"}]
    }
    resp = await cloud.client.post(f"{V2}/ports", json=two, headers=cloud.demo)
    assert resp.status_code == 201
    assert [p["name"] for p in resp.json()["ports"]] == ["a", "b"]
    bad = {"ports": [{"network_id": net["id"], "name": "c"}, {"network_id": "missing"}]}
    failed = await cloud.client.post(f"{V2}/ports", json=bad, headers=cloud.demo)
    neutron_error(failed, 404, "NetworkNotFound")
    names = [
        p["name"]
        for p in (await cloud.client.get(f"{V2}/ports", headers=cloud.demo)).json()["ports"]
    ]
    assert sorted(names) == ["a", "b"]


async def test_slaac_subnet_gives_eui64_addresses(cloud: Cloud) -> None:
    net, v4 = await _net_with_subnet(cloud)
    v6 = await create(
        cloud, "subnet", cloud.demo, network_id=net["id"], ip_version=6, cidr="2001:db8:1::/64",
        ipv6_ra_mode="slaac", ipv6_address_mode="slaac",
    )  # fmt: skip
    port = await create(
        cloud, "port", cloud.demo, network_id=net["id"], mac_address="fa:16:3e:12:34:56"
    )
    assert port["fixed_ips"] == [
        {"subnet_id": v4["id"], "ip_address": "10.20.0.2"},
        {"subnet_id": v6["id"], "ip_address": "2001:db8:1:0:f816:3eff:fe12:3456"},
    ]
    chosen = await cloud.client.post(
        f"{V2}/ports",
        json={"port": {"network_id": net["id"], "fixed_ips": [{"ip_address": "2001:db8:1::5"}]}},
        headers=cloud.demo,
    )
    neutron_error(chosen, 400, "InvalidInput")
    # A new MAC moves the SLAAC address with it (EUI-64); the IPv4 address stays.
    moved = await cloud.client.put(
        f"{V2}/ports/{port['id']}",
        json={"port": {"mac_address": "fa:16:3e:ab:cd:ef"}},
        headers=cloud.admin,
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["port"]["fixed_ips"] == [
        {"subnet_id": v4["id"], "ip_address": "10.20.0.2"},
        {"subnet_id": v6["id"], "ip_address": "2001:db8:1:0:f816:3eff:feab:cdef"},
    ]
    # A SLAAC subnet goes even with ports on it: its addresses leave the ports.
    assert (
        await cloud.client.delete(f"{V2}/subnets/{v6['id']}", headers=cloud.demo)
    ).status_code == 204
    shown = (await cloud.client.get(f"{V2}/ports/{port['id']}", headers=cloud.demo)).json()
    assert shown["port"]["fixed_ips"] == [{"subnet_id": v4["id"], "ip_address": "10.20.0.2"}]


async def test_fixed_ips_filter_by_address_substring(cloud: Cloud) -> None:
    # ip-substring-filtering: openstack port list --fixed-ip ip-substring=...
    net, _ = await _net_with_subnet(cloud, "10.22.0.0/24")
    for address in ("10.22.0.15", "10.22.0.150", "10.22.0.20"):
        await create(
            cloud, "port", cloud.demo, network_id=net["id"], fixed_ips=[{"ip_address": address}]
        )
    ext = await cloud.client.get(f"{V2}/extensions/ip-substring-filtering", headers=cloud.demo)
    assert ext.status_code == 200
    found = await cloud.client.get(
        f"{V2}/ports", params={"fixed_ips": "ip_address_substr=0.15"}, headers=cloud.demo
    )
    addresses = sorted(p["fixed_ips"][0]["ip_address"] for p in found.json()["ports"])
    assert addresses == ["10.22.0.15", "10.22.0.150"]
    exact = await cloud.client.get(
        f"{V2}/ports", params={"fixed_ips": "ip_address=10.22.0.15"}, headers=cloud.demo
    )
    assert [p["fixed_ips"][0]["ip_address"] for p in exact.json()["ports"]] == ["10.22.0.15"]


async def test_no_tags_without_the_tag_extension(cloud: Cloud) -> None:
    # standard-attr-tag is not served: Neutron then neither shows nor accepts 'tags'.
    net, sub = await _net_with_subnet(cloud, "10.23.0.0/24")
    port = await create(cloud, "port", cloud.demo, network_id=net["id"])
    groups = await cloud.client.get(f"{V2}/security-groups", headers=cloud.demo)
    for item in (net, sub, port, *groups.json()["security_groups"]):
        assert "tags" not in item
    tagged = await cloud.client.post(
        f"{V2}/networks", json={"network": {"name": "t", "tags": ["a"]}}, headers=cloud.demo
    )
    assert neutron_error(tagged, 400, "HTTPBadRequest") == "Unrecognized attribute(s) 'tags'"
    ext = await cloud.client.get(f"{V2}/extensions/standard-attr-tag", headers=cloud.demo)
    assert ext.status_code == 404
