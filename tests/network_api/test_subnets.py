"""Subnets: defaults, IPv6, pool and gateway validation, overlap within a network."""

from __future__ import annotations

from typing import Any

from tests.conftest import Cloud
from tests.network_api.helpers import V2, create, neutron_error


async def _net(cloud: Cloud) -> dict[str, Any]:
    return await create(cloud, "network", cloud.demo, name="n")


async def _post(cloud: Cloud, **attrs: Any) -> Any:
    return await cloud.client.post(f"{V2}/subnets", json={"subnet": attrs}, headers=cloud.demo)


async def test_ipv4_defaults(cloud: Cloud) -> None:
    net = await _net(cloud)
    route = {"destination": "10.2.0.0/16", "nexthop": "10.1.0.254"}
    sub = await create(
        cloud, "subnet", cloud.demo, network_id=net["id"], ip_version=4, cidr="10.1.0.0/24",
        dns_nameservers=["8.8.8.8"], host_routes=[route],
    )  # fmt: skip
    assert sub["gateway_ip"] == "10.1.0.1"
    assert sub["allocation_pools"] == [{"start": "10.1.0.2", "end": "10.1.0.254"}]
    assert sub["enable_dhcp"] is True and sub["dns_nameservers"] == ["8.8.8.8"]
    assert sub["host_routes"] == [{"destination": "10.2.0.0/16", "nexthop": "10.1.0.254"}]
    overlap = await _post(cloud, network_id=net["id"], ip_version=4, cidr="10.1.0.128/25")
    assert "overlaps with another subnet" in neutron_error(overlap, 400, "InvalidInput")


async def test_ipv6_and_null_gateway(cloud: Cloud) -> None:
    net = await _net(cloud)
    v6 = await create(
        cloud, "subnet", cloud.demo, network_id=net["id"], ip_version=6, cidr="2001:db8::/64"
    )
    assert v6["gateway_ip"] == "2001:db8::1"
    assert v6["allocation_pools"] == [
        {"start": "2001:db8::2", "end": "2001:db8::ffff:ffff:ffff:ffff"}
    ]
    nogw = await create(
        cloud, "subnet", cloud.demo, network_id=net["id"], ip_version=4, cidr="10.3.0.0/29",
        gateway_ip=None,
    )  # fmt: skip
    assert nogw["gateway_ip"] is None
    assert nogw["allocation_pools"] == [{"start": "10.3.0.1", "end": "10.3.0.6"}]
    mismatch = await _post(cloud, network_id=net["id"], ip_version=4, cidr="2001:db9::/64")
    neutron_error(mismatch, 400, "InvalidInput")
    hostbits = await _post(cloud, network_id=net["id"], ip_version=4, cidr="10.4.0.1/24")
    assert "is recommended" in neutron_error(hostbits, 400, "HTTPBadRequest")


async def test_pool_and_gateway_checks(cloud: Cloud) -> None:
    net = await _net(cloud)
    base = {"network_id": net["id"], "ip_version": 4, "cidr": "10.5.0.0/24"}
    outside = await _post(
        cloud, **base, allocation_pools=[{"start": "10.5.0.10", "end": "10.5.1.5"}]
    )
    neutron_error(outside, 400, "OutOfBoundsAllocationPool")
    both = [{"start": "10.5.0.10", "end": "10.5.0.20"}, {"start": "10.5.0.15", "end": "10.5.0.30"}]
    neutron_error(
        await _post(cloud, **base, allocation_pools=both), 409, "OverlappingAllocationPools"
    )
    gw = await _post(
        cloud,
        **base,
        gateway_ip="10.5.0.12",
        allocation_pools=[{"start": "10.5.0.10", "end": "10.5.0.20"}],
    )
    neutron_error(gw, 409, "GatewayConflictWithAllocationPools")
    ok = await create(
        cloud,
        "subnet",
        cloud.demo,
        **base,
        allocation_pools=[{"start": "10.5.0.10", "end": "10.5.0.20"}],
    )
    assert ok["gateway_ip"] == "10.5.0.1"
    upd = await cloud.client.put(
        f"{V2}/subnets/{ok['id']}", json={"subnet": {"cidr": "10.6.0.0/24"}}, headers=cloud.demo
    )
    neutron_error(upd, 400, "HTTPBadRequest")
    renamed = await cloud.client.put(
        f"{V2}/subnets/{ok['id']}",
        json={"subnet": {"name": "r", "gateway_ip": None}},
        headers=cloud.demo,
    )
    assert renamed.json()["subnet"]["gateway_ip"] is None


async def test_subnet_in_use(cloud: Cloud) -> None:
    net = await _net(cloud)
    sub = await create(
        cloud, "subnet", cloud.demo, network_id=net["id"], ip_version=4, cidr="10.7.0.0/24"
    )
    await create(cloud, "port", cloud.demo, network_id=net["id"])
    busy = await cloud.client.delete(f"{V2}/subnets/{sub['id']}", headers=cloud.demo)
    neutron_error(busy, 409, "SubnetInUse")
