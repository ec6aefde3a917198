"""Two deletes of one network, subnet, port, security group rule (or group) at once: one
204, one 404, as Neutron answers a second delete; never two 204s over a DELETE that
matched nothing (found by the random walk, whose waves send concurrent requests)."""

from __future__ import annotations

from typing import Any

import pytest

from stockyard.db.models import Network, Port, SecurityGroup, SecurityGroupRule, Subnet
from tests.concurrent_deletes import deleted_once
from tests.conftest import Cloud
from tests.network_api.helpers import V2, create


async def _once(cloud: Cloud, model: Any, path: str, row_id: str) -> dict[str, Any]:
    """Delete ``{path}/{row_id}`` twice at once; the loser's NeutronError."""
    body = await deleted_once(cloud, f"{V2}/{path}/{row_id}", model, model.id == row_id)
    error: dict[str, Any] = body["NeutronError"]
    return error


@pytest.mark.backend("sqlite", "postgresql", "mariadb")
async def test_a_rule_deleted_twice_at_once_is_deleted_once(cloud: Cloud) -> None:
    group = await create(cloud, "security_group", cloud.demo, name="g")
    rule = await create(
        cloud, "security_group_rule", cloud.demo, security_group_id=group["id"],
        direction="ingress", protocol="tcp", port_range_min=22, port_range_max=22,
    )  # fmt: skip
    error = await _once(cloud, SecurityGroupRule, "security-group-rules", rule["id"])
    assert error["type"] == "SecurityGroupRuleNotFound"


@pytest.mark.backend("sqlite", "postgresql", "mariadb")
async def test_a_group_deleted_twice_at_once_is_deleted_once(cloud: Cloud) -> None:
    group = await create(cloud, "security_group", cloud.demo, name="g")
    error = await _once(cloud, SecurityGroup, "security-groups", group["id"])
    assert error["type"] == "SecurityGroupNotFound"


@pytest.mark.backend("sqlite", "postgresql", "mariadb")
async def test_a_network_deleted_twice_at_once_is_deleted_once(cloud: Cloud) -> None:
    net = await create(cloud, "network", cloud.demo, name="n")
    await create(
        cloud, "subnet", cloud.demo, network_id=net["id"], cidr="10.9.0.0/24", ip_version=4
    )
    error = await _once(cloud, Network, "networks", net["id"])
    assert error == {
        "type": "NetworkNotFound",
        "message": f"Network {net['id']} could not be found.",
        "detail": "",
    }


@pytest.mark.backend("sqlite", "postgresql", "mariadb")
async def test_a_subnet_deleted_twice_at_once_is_deleted_once(cloud: Cloud) -> None:
    net = await create(cloud, "network", cloud.demo, name="n")
    subnet = await create(
        cloud, "subnet", cloud.demo, network_id=net["id"], cidr="10.9.0.0/24", ip_version=4
    )
    error = await _once(cloud, Subnet, "subnets", subnet["id"])
    assert error["message"] == f"Subnet {subnet['id']} could not be found."
    assert error["type"] == "SubnetNotFound"


@pytest.mark.backend("sqlite", "postgresql", "mariadb")
async def test_a_port_deleted_twice_at_once_is_deleted_once(cloud: Cloud) -> None:
    net = await create(cloud, "network", cloud.demo, name="n")
    await create(
        cloud, "subnet", cloud.demo, network_id=net["id"], cidr="10.9.0.0/24", ip_version=4
    )
    port = await create(cloud, "port", cloud.demo, network_id=net["id"])
    assert port["fixed_ips"]
    error = await _once(cloud, Port, "ports", port["id"])
    assert error["message"] == f"Port {port['id']} could not be found."
    assert error["type"] == "PortNotFound"
    # Its address went back once: the next port takes it.
    again = await create(cloud, "port", cloud.demo, network_id=net["id"])
    assert again["fixed_ips"] == port["fixed_ips"]
