"""``os-interface``: Nova's bodies and errors, attach and detach through the conductor's
interface flow (answered, failed, lost), and which ports survive."""

from __future__ import annotations

import asyncio
import ipaddress
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from stockyard.db.base import utcnow
from stockyard.db.models import Host, Instance, Port
from stockyard.network import server_ports
from tests.conftest import Cloud
from tests.network_api.helpers import create
from tests.servers_api.conftest import Seed
from tests.servers_api.interface_helpers import (
    addresses,
    answer,
    error,
    events,
    flow,
    iface_url,
    network,
    neutron_port,
    port_row,
    running_server,
)

MISSING = "3c2a4b9e-0000-4000-8000-000000000001"


async def test_body_is_checked_as_novas_schema(cloud: Cloud, seed: Seed) -> None:
    uuid = await running_server(cloud, seed)
    post = cloud.client.post
    h = cloud.headers(cloud.demo_token, "2.48")
    resp = await post(iface_url(uuid), json={"interfaceAttachment": {"net_id": "abc"}}, headers=h)
    assert error(resp, 400) == (
        "Invalid input for field/attribute interfaceAttachment/net_id. Value: abc. "
        "'abc' is not a 'uuid'"
    )
    resp = await post(iface_url(uuid), json={"interfaceAttachment": {"tag": "a"}}, headers=h)
    assert "Additional properties are not allowed ('tag' was unexpected)" in error(resp, 400)
    resp = await post(iface_url(uuid), json={"bogus": 1}, headers=h)
    assert error(resp, 400) == "Additional properties are not allowed ('bogus' was unexpected)"
    bad_ip = {"interfaceAttachment": {"net_id": MISSING, "fixed_ips": [{"ip_address": "x"}]}}
    resp = await post(iface_url(uuid), json=bad_ip, headers=h)
    assert "interfaceAttachment/fixed_ips/0/ip_address. Value: x." in error(resp, 400)
    h = cloud.headers(cloud.demo_token, "2.49")
    resp = await post(iface_url(uuid), json={"interfaceAttachment": {"tag": "a/b"}}, headers=h)
    assert "'a/b' does not match '^[^,/]*$'" in error(resp, 400)
    both = {"interfaceAttachment": {"net_id": MISSING, "port_id": MISSING}}
    resp = await post(iface_url(uuid), json=both, headers=h)
    assert error(resp, 400) == "Must not input both network_id and port_id"
    ip_only = {"interfaceAttachment": {"fixed_ips": [{"ip_address": "10.0.0.9"}]}}
    resp = await post(iface_url(uuid), json=ip_only, headers=h)
    assert error(resp, 400) == "Must input network_id when request IP address"


async def test_not_found_in_use_and_wrong_state(cloud: Cloud, seed: Seed) -> None:
    uuid = await running_server(cloud, seed)
    h = cloud.headers(cloud.demo_token, "2.70")
    post = cloud.client.post
    resp = await post(
        iface_url(uuid), json={"interfaceAttachment": {"port_id": MISSING}}, headers=h
    )
    assert error(resp, 404) == f"Port {MISSING} could not be found."
    resp = await post(iface_url(uuid), json={"interfaceAttachment": {"net_id": MISSING}}, headers=h)
    assert error(resp, 404) == f"Network {MISSING} could not be found."
    resp = await post(iface_url(MISSING), json={}, headers=h)
    assert error(resp, 404) == f"Instance {MISSING} could not be found."
    resp = await cloud.client.delete(iface_url(uuid, MISSING), headers=h)
    assert error(resp, 404) == f"Port {MISSING} is not attached"
    (own,) = (await cloud.client.get(iface_url(uuid), headers=h)).json()["interfaceAttachments"]
    other = await running_server(cloud, seed)
    resp = await cloud.client.get(iface_url(other, own["port_id"]), headers=h)
    assert error(resp, 404) == f"Instance {other} does not have a port with id {own['port_id']}"
    body = {"interfaceAttachment": {"port_id": own["port_id"]}}
    resp = await post(iface_url(other), json=body, headers=h)
    assert error(resp, 409) == f"Port {own['port_id']} is still in use."
    async with cloud.state.db.session() as s:
        await s.execute(
            update(Instance).where(Instance.uuid == other).values(task_state="rebooting")
        )
    resp = await post(iface_url(other), json={}, headers=h)
    assert error(resp, 409) == (
        f"Cannot 'attach_interface' instance {other} while it is in task_state rebooting"
    )
    async with cloud.state.db.session() as s:
        await s.execute(
            update(Instance).where(Instance.uuid == other).values(task_state=None, locked=True)
        )
    resp = await cloud.client.delete(iface_url(other, own["port_id"]), headers=h)
    assert error(resp, 409) == f"Instance {other} is locked"


async def test_attach_a_users_port_then_detach_keeps_it(cloud: Cloud, seed: Seed) -> None:
    uuid = await running_server(cloud, seed)
    net = await network(cloud, "blue", "192.168.70.0/24")
    port = await create(cloud, "port", cloud.demo, network_id=net)
    h = cloud.headers(cloud.demo_token, "2.70")
    body = {"interfaceAttachment": {"port_id": port["id"], "tag": "nic2"}}
    resp = await cloud.client.post(iface_url(uuid), json=body, headers=h)
    assert resp.status_code == 200, resp.text
    att = resp.json()["interfaceAttachment"]
    assert att == {
        "net_id": net,
        "port_id": port["id"],
        "mac_addr": port["mac_address"],
        "port_state": "DOWN",  # until the host has plugged it
        "fixed_ips": port["fixed_ips"],
        "tag": "nic2",
    }
    assert "blue" in await addresses(cloud, uuid)
    await answer(cloud, port["id"], ok=True)
    shown = await cloud.client.get(iface_url(uuid, port["id"]), headers=h)
    assert shown.json()["interfaceAttachment"]["port_state"] == "ACTIVE"
    listed = (await cloud.client.get(iface_url(uuid), headers=h)).json()["interfaceAttachments"]
    assert [a["tag"] for a in listed] == [None, "nic2"]
    old = cloud.headers(cloud.demo_token, "2.69")
    assert (
        "tag"
        not in (await cloud.client.get(iface_url(uuid), headers=old)).json()[
            "interfaceAttachments"
        ][0]
    )

    resp = await cloud.client.delete(iface_url(uuid, port["id"]), headers=h)
    assert resp.status_code == 202, resp.text
    again = await cloud.client.delete(iface_url(uuid, port["id"]), headers=h)
    assert "is detaching" in error(again, 409)
    await answer(cloud, port["id"], ok=True)
    kept = await neutron_port(cloud, port["id"])
    assert (kept["device_id"], kept["status"], kept["fixed_ips"]) == ("", "DOWN", port["fixed_ips"])
    assert "blue" not in await addresses(cloud, uuid)
    assert [(a, e, r) for a, e, r, _ in await events(cloud, uuid)] == [
        ("attach_interface", "compute_attach_interface", "Success"),
        ("detach_interface", "compute_detach_interface", "Success"),
    ]


async def test_attach_to_a_network_failed_or_lost_leaves_nothing(cloud: Cloud, seed: Seed) -> None:
    uuid = await running_server(cloud, seed)
    net = await network(cloud, "green", "192.168.80.0/24")
    h = cloud.headers(cloud.demo_token, "2.70")
    body = {"interfaceAttachment": {"net_id": net, "fixed_ips": [{"ip_address": "192.168.80.9"}]}}
    resp = await cloud.client.post(iface_url(uuid), json=body, headers=h)
    assert resp.status_code == 200, resp.text
    made = resp.json()["interfaceAttachment"]
    assert made["fixed_ips"][0]["ip_address"] == "192.168.80.9" and made["tag"] is None
    clash = await cloud.client.post(iface_url(uuid), json=body, headers=h)
    assert error(clash, 409) == (
        f"Fixed IP address 192.168.80.9 is already in use on instance {uuid}."
    )
    await answer(cloud, made["port_id"], ok=False, error="the guest refused the NIC")
    assert await port_row(cloud, made["port_id"]) is None  # made by the attach: deleted
    assert "green" not in await addresses(cloud, uuid)
    (*_, last) = await events(cloud, uuid)
    assert last[1:3] == ("compute_attach_interface", "Error")
    assert "the guest refused the NIC" in last[3]

    # A lost op: its lease runs out and the reconciler ends it the same way.
    resp = await cloud.client.post(iface_url(uuid), json=body, headers=h)
    assert resp.status_code == 200, resp.text
    port_id = resp.json()["interfaceAttachment"]["port_id"]
    f = flow(cloud)
    await f.handle_instance(uuid)
    async with cloud.state.db.session() as s:
        await s.execute(
            update(Port)
            .where(Port.id == port_id)
            .values(iface_lease_expires=utcnow() - timedelta(seconds=1))
        )
    assert await f.reconcile_once() == 1
    assert await port_row(cloud, port_id) is None
    (*_, last) = await events(cloud, uuid)
    assert "did not plug the port in time" in last[3]


async def test_without_a_network_nova_picks_the_one_there_is(cloud: Cloud, seed: Seed) -> None:
    uuid = await running_server(cloud, seed)
    h = cloud.headers(cloud.demo_token, "2.70")
    resp = await cloud.client.post(iface_url(uuid), headers=h)  # no body at all
    assert resp.status_code == 200, resp.text  # the region's provider network
    await network(cloud, "one", "192.168.90.0/24")
    resp = await cloud.client.post(iface_url(uuid), json={}, headers=h)
    assert error(resp, 400).startswith("More than one possible network found.")


async def _baremetal_server(cloud: Cloud, seed: Seed, nic2: str) -> str:
    """A running server whose host h0 is made a baremetal node with a second NIC."""
    uuid = await running_server(cloud, seed)
    h = cloud.headers(cloud.demo_token, "2.70")
    (own,) = (await cloud.client.get(iface_url(uuid), headers=h)).json()["interfaceAttachments"]
    async with cloud.state.db.session() as s:
        await s.execute(
            update(Host)
            .where(Host.name == "h0")
            .values(kind="baremetal", macs=[own["mac_addr"], nic2])
        )
    return uuid


async def test_baremetal_takes_a_free_nic_or_fails_as_ironic(cloud: Cloud, seed: Seed) -> None:
    nic2 = "52:54:00:aa:00:02"
    uuid = await _baremetal_server(cloud, seed, nic2)
    h = cloud.headers(cloud.demo_token, "2.70")
    net = await network(cloud, "red", "192.168.100.0/24")
    body = {"interfaceAttachment": {"net_id": net}}
    resp = await cloud.client.post(iface_url(uuid), json=body, headers=h)
    assert resp.status_code == 200, resp.text
    att = resp.json()["interfaceAttachment"]
    assert att["mac_addr"] == nic2  # Ironic: the VIF takes the physical port's MAC
    assert (await neutron_port(cloud, att["port_id"]))["binding:vnic_type"] == "baremetal"
    resp = await cloud.client.post(iface_url(uuid), json=body, headers=h)
    assert error(resp, 500) == f"Failed to attach network adapter device to {uuid}"
    (*_, last) = await events(cloud, uuid)
    assert last[:3] == ("attach_interface", "compute_attach_interface", "Error")
    assert "not enough free physical ports" in last[3]


def _eui64(mac: str) -> int:
    """The interface id SLAAC derives from ``mac``."""
    raw = bytes.fromhex(mac.replace(":", ""))
    return int.from_bytes(bytes([raw[0] ^ 2]) + raw[1:3] + b"\xff\xfe" + raw[3:], "big")


async def test_a_nic_mac_left_on_a_failed_builds_port_is_taken_back(
    cloud: Cloud, seed: Seed
) -> None:
    nic2 = "52:54:00:aa:00:03"
    uuid = await _baremetal_server(cloud, seed, nic2)
    h = cloud.headers(cloud.demo_token, "2.70")
    net = await network(cloud, "blue", "192.168.130.0/24")
    await create(
        cloud, "subnet", cloud.demo, network_id=net, ip_version=6, cidr="2001:db8:9::/64",
        ipv6_ra_mode="slaac", ipv6_address_mode="slaac",
    )  # fmt: skip
    # A build that failed on this node kept its port, still bound with the node's 2nd NIC.
    failed = await running_server(cloud, seed, networks="none")
    stale = await create(cloud, "port", cloud.demo, network_id=net)
    mine = await create(cloud, "port", cloud.demo, network_id=net)
    async with cloud.state.db.session() as s:
        await s.execute(
            update(Port)
            .where(Port.id == stale["id"])
            .values(mac_address=nic2, binding_vnic_type="baremetal", device_id=failed)
        )
        inst = await s.scalar(select(Instance).where(Instance.uuid == failed))
        assert inst is not None
        inst.vm_state = "error"
        await server_ports.refresh(s, inst)
        await s.commit()
    before = (await addresses(cloud, failed))["blue"]
    assert {a["OS-EXT-IPS-MAC:mac_addr"] for a in before} == {nic2}, before
    body = {"interfaceAttachment": {"port_id": mine["id"]}}
    resp = await cloud.client.post(iface_url(uuid), json=body, headers=h)
    assert resp.status_code == 200, resp.text
    assert resp.json()["interfaceAttachment"]["mac_addr"] == nic2
    # Its SLAAC address follows the MAC (EUI-64 of the NIC's), and the stale port's too.
    v6 = [a["ip_address"] for a in (await neutron_port(cloud, mine["id"]))["fixed_ips"]]
    assert "2001:db8:9:0:5054:ff:feaa:3" in v6
    moved = await neutron_port(cloud, stale["id"])
    assert moved["mac_address"] not in (nic2, stale["mac_address"])
    (moved_v6,) = [a["ip_address"] for a in moved["fixed_ips"] if ":" in a["ip_address"]]
    assert int(ipaddress.ip_address(moved_v6)) & (2**64 - 1) == _eui64(moved["mac_address"])
    # The failed server shows its port as it is now, not the MAC the node took back.
    shown = (await addresses(cloud, failed))["blue"]
    assert {a["OS-EXT-IPS-MAC:mac_addr"] for a in shown} == {moved["mac_address"]}, shown
    assert moved_v6 in {a["addr"] for a in shown}, shown

    # A port the user made with that MAC is the user's clash: Nova's 409, nothing bound.
    await answer(cloud, mine["id"], ok=True)
    resp = await cloud.client.delete(iface_url(uuid, mine["id"]), headers=h)
    assert resp.status_code == 202, resp.text
    await answer(cloud, mine["id"], ok=True)
    other = await network(cloud, "green2", "192.168.140.0/24")
    await create(cloud, "port", cloud.demo, network_id=other, mac_address=nic2)
    theirs = await create(cloud, "port", cloud.demo, network_id=other)
    body = {"interfaceAttachment": {"port_id": theirs["id"]}}
    resp = await cloud.client.post(iface_url(uuid), json=body, headers=h)
    assert error(resp, 409) == f"MAC address {nic2} is already in use on network {other}."
    assert (await neutron_port(cloud, theirs["id"]))["device_id"] == ""


@pytest.mark.backend()
async def test_two_servers_racing_for_one_port_one_wins(cloud: Cloud, seed: Seed) -> None:
    a, b = await running_server(cloud, seed), await running_server(cloud, seed)
    net = await network(cloud, "race", "192.168.110.0/24")
    port = await create(cloud, "port", cloud.demo, network_id=net)
    h = cloud.headers(cloud.demo_token, "2.70")
    body = {"interfaceAttachment": {"port_id": port["id"]}}
    answers = await asyncio.gather(
        *(cloud.client.post(iface_url(uuid), json=body, headers=h) for uuid in (a, b))
    )
    assert sorted(r.status_code for r in answers) == [200, 409], [r.text for r in answers]
    winner = (a, b)[[r.status_code for r in answers].index(200)]
    await answer(cloud, port["id"], ok=True)
    assert (await neutron_port(cloud, port["id"]))["device_id"] == winner
    resp = await cloud.client.delete(iface_url(winner, port["id"]), headers=h)
    assert resp.status_code == 202, resp.text
    await answer(cloud, port["id"], ok=False, error="the guest kept the NIC")
    kept = await neutron_port(cloud, port["id"])
    assert (kept["device_id"], kept["status"]) == (winner, "ACTIVE")  # still attached


async def test_server_gone_mid_attach_frees_the_users_port(cloud: Cloud, seed: Seed) -> None:
    uuid = await running_server(cloud, seed)
    net = await network(cloud, "gone", "192.168.120.0/24")
    port = await create(cloud, "port", cloud.demo, network_id=net)
    h = cloud.headers(cloud.demo_token, "2.70")
    body = {"interfaceAttachment": {"port_id": port["id"]}}
    assert (await cloud.client.post(iface_url(uuid), json=body, headers=h)).status_code == 200
    f = flow(cloud)
    await f.handle_instance(uuid)  # the op is out, its result not yet in
    async with cloud.state.db.session() as s:
        inst = await s.scalar(select(Instance).where(Instance.uuid == uuid))
        assert inst is not None
        await server_ports.release(s, inst)  # what the server's delete does
    row = await port_row(cloud, port["id"])
    assert row is not None and (row.device_id, row.iface_op, row.iface_lease_owner) == (
        "",
        None,
        None,
    )
    assert await f.reconcile_once() == 0  # nothing left in flight
