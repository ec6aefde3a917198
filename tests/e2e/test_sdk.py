"""openstacksdk against ``stockyard up``: what Ansible and other SDK users rely on."""

from __future__ import annotations

import os

import openstack
import pytest

from tests.e2e.conftest import RunningCloud


@pytest.fixture
def conn(running_cloud: RunningCloud) -> openstack.connection.Connection:
    os.environ["OS_CLIENT_CONFIG_FILE"] = str(running_cloud.clouds_yaml)
    try:
        return openstack.connect(cloud="stockyard")
    finally:
        del os.environ["OS_CLIENT_CONFIG_FILE"]


def test_sdk_member_lifecycle(conn: openstack.connection.Connection) -> None:
    image = conn.image.find_image("stockyard-default", ignore_missing=False)
    flavor = conn.compute.find_flavor("m1.tiny", ignore_missing=False)
    key = conn.compute.create_keypair(name="sdk-key")
    assert key.private_key
    group = conn.compute.create_server_group(name="sdk-ha", policy="soft-anti-affinity")
    server = conn.compute.create_server(
        name="sdk-vm",
        image_id=image.id,
        flavor_id=flavor.id,
        key_name="sdk-key",
        networks="auto",
        scheduler_hints={"group": group.id},
    )
    server = conn.compute.wait_for_server(server, status="ACTIVE", wait=60)
    assert server.addresses and server.access_ipv4 == ""
    assert conn.compute.get_server(server.id).status == "ACTIVE"
    names = [s.name for s in conn.compute.servers()]
    assert "sdk-vm" in names
    actions = list(conn.compute.server_actions(server))
    assert [a.action for a in actions] == ["create"]
    conn.compute.reboot_server(server, "SOFT")
    conn.compute.wait_for_server(server, status="ACTIVE", wait=60)
    conn.compute.delete_server(server)
    conn.compute.wait_for_delete(server, wait=60)
    conn.compute.delete_server_group(group)
    conn.compute.delete_keypair(key)


def test_sdk_member_is_refused_admin_calls(conn: openstack.connection.Connection) -> None:
    with pytest.raises(openstack.exceptions.ForbiddenException):
        conn.compute.create_flavor(name="nope", ram=1, vcpus=1, disk=1)
    with pytest.raises(openstack.exceptions.ForbiddenException):
        list(conn.compute.hypervisors())
