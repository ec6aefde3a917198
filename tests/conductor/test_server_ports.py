"""Servers' ports: created and bound at placement (IPAM is the one source of addresses),
sent to the agent as ``InstanceSpec.ports``, deleted with the server unless the user
brought them."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.db.base import utcnow
from stockyard.db.models import (
    Instance,
    InstanceFault,
    IPAllocation,
    Network,
    NetworkQuota,
    Port,
    PortSecurityGroup,
    SecurityGroupMemberChange,
    Subnet,
)
from stockyard.network import secgroups
from tests.conductor.conftest import GOLD, Lab
from tests.conductor.test_server_ports_helpers import admin_ctx


async def _ports(lab: Lab, device_id: str | None = None) -> list[Port]:
    async with lab.db.session() as s:
        stmt = select(Port).order_by(Port.created_at)
        if device_id is not None:
            stmt = stmt.where(Port.device_id == device_id)
        return list((await s.execute(stmt)).scalars())


async def _ports_of(s: AsyncSession, uuid: str) -> list[Port]:
    return list(await s.scalars(select(Port).where(Port.device_id == uuid)))


async def secgroups_of(s: AsyncSession, port_id: str) -> list[str]:
    return list(
        await s.scalars(
            select(PortSecurityGroup.security_group_id).where(PortSecurityGroup.port_id == port_id)
        )
    )


def _spawned(lab: Lab, uuid: str) -> dict[str, Any]:
    msg: dict[str, Any] = next(
        m for m in lab.agent.received if m["op"] == "spawn" and m["instance"]["uuid"] == uuid
    )
    return msg


async def _network(lab: Lab, cidr: str, **fields: Any) -> tuple[str, str]:
    async with lab.db.session() as s:
        net = Network(project_id="p1", name="private", **fields)
        s.add(net)
        await s.flush()
        base = cidr.rsplit(".", 1)[0]
        subnet = Subnet(
            network_id=net.id, project_id="p1", ip_version=4, cidr=cidr,
            gateway_ip=f"{base}.1", allocation_pools=[{"start": f"{base}.2", "end": f"{base}.14"}],
        )  # fmt: skip
        s.add(subnet)
    return net.id, subnet.id


async def test_a_server_gets_a_bound_port_on_its_regions_provider_network(lab: Lab) -> None:
    await lab.add_hosts(2)
    await lab.start()
    (uuid,) = await lab.create(1)
    (row,) = await lab.settled([uuid])
    assert row.vm_state == "active"
    (port,) = await _ports(lab, uuid)
    assert port.device_owner == "compute:az1" and port.binding_host_id == row.host
    assert port.status == "ACTIVE" and port.project_id == "p1"
    async with lab.db.session() as s:
        net = await s.get(Network, port.network_id)
        assert net is not None
        assert (net.name, net.shared, net.network_type, net.physical_network) == (
            "provider", True, "flat", "r1",
        )  # fmt: skip
        (ip,) = (await s.execute(select(IPAllocation.ip_address))).scalars()
    # Nova's addresses: keyed by network name, the port's MAC and fixed IP.
    assert row.addresses == {
        "provider": [
            {"version": 4, "addr": ip, "OS-EXT-IPS:type": "fixed",
             "OS-EXT-IPS-MAC:mac_addr": port.mac_address},
        ]
    }  # fmt: skip
    assert ip.startswith("10.1.") and ip != "10.1.0.1"  # the region's cidr, not its gateway
    # The agent hears the port (its MAC is the one the guest NIC must use).
    (spec,) = _spawned(lab, uuid)["instance"]["ports"]
    assert spec["id"] == port.id and spec["mac_address"] == port.mac_address
    assert spec["network_type"] == "flat" and spec["physical_network"] == "r1"
    assert [f["ip_address"] for f in spec["fixed_ips"]] == [ip]
    # The project's default group: egress allowed, ingress from the group's members.
    rules = spec["security_rules"]
    assert {r["direction"] for r in rules} == {"ingress", "egress"}
    assert [r["remote_ips"] for r in rules if r["direction"] == "ingress" and
            r["ethertype"] == "IPv4"] == [[ip]]  # fmt: skip

    await lab.task(uuid, "deleting")
    await lab.wait([uuid], lambda r: r.vm_state == "deleted")
    assert await _ports(lab) == []


async def test_networks_none_gives_no_port(lab: Lab) -> None:
    await lab.add_hosts(1)
    await lab.start()
    (uuid,) = await lab.create(1, requested_networks=[])
    (row,) = await lab.settled([uuid])
    assert row.vm_state == "active" and row.addresses == {}
    assert await _ports(lab) == []
    assert _spawned(lab, uuid)["instance"]["ports"] == []


async def test_requested_network_fixed_ip_and_the_users_port(lab: Lab) -> None:
    await lab.add_hosts(1)
    await lab.start()
    net_id, subnet_id = await _network(lab, "192.168.7.0/28")
    async with lab.db.session() as s:
        mine = Port(network_id=net_id, project_id="p1", mac_address="fa:16:3e:aa:bb:cc")
        s.add(mine)
        await s.flush()
        s.add(IPAllocation(port_id=mine.id, subnet_id=subnet_id, network_id=net_id,
                           ip_address="192.168.7.9"))  # fmt: skip
    wanted = [{"uuid": net_id, "fixed_ip": "192.168.7.5"}, {"port": mine.id}]
    (uuid,) = await lab.create(1, requested_networks=wanted)
    (row,) = await lab.settled([uuid])
    assert row.vm_state == "active"
    assert [(a["addr"], a["OS-EXT-IPS-MAC:mac_addr"]) for a in row.addresses["private"]][1] == (
        "192.168.7.9", "fa:16:3e:aa:bb:cc",
    )  # fmt: skip
    assert row.addresses["private"][0]["addr"] == "192.168.7.5"
    assert [p["id"] for p in _spawned(lab, uuid)["instance"]["ports"]][1] == mine.id

    await lab.task(uuid, "deleting")
    await lab.wait([uuid], lambda r: r.vm_state == "deleted")
    # The user's port stays, unbound, with its address; the created one is gone.
    (left,) = await _ports(lab)
    assert left.id == mine.id and (left.device_id, left.binding_host_id) == ("", "")
    async with lab.db.session() as s:
        ips = list((await s.execute(select(IPAllocation.ip_address))).scalars())
    assert ips == ["192.168.7.9"]


async def test_a_full_subnet_fails_the_build_with_a_reason(lab: Lab) -> None:
    await lab.add_hosts(1, vcpus=20)
    await lab.start()
    net_id, _ = await _network(lab, "192.168.8.0/28")
    uuids = await lab.create(14, requested_networks=[{"uuid": net_id}])
    rows = await lab.settled(uuids)
    assert sorted(r.vm_state for r in rows).count("active") == 13
    failed = next(r for r in rows if r.vm_state == "error")
    assert failed.host is None and failed.addresses == {}
    assert failed.network_info is None
    assert len(await _ports(lab)) == 13  # nothing left behind by the failed bind
    assert sum(h.running_vms for h in await lab.host_rows()) == 13


async def test_a_baremetal_nodes_port_carries_its_nic_mac(lab: Lab) -> None:
    await lab.add_nodes({"bm-1": ["52:54:01:00:00:07"]})
    await lab.start()
    (uuid,) = await lab.create(1, flavor=GOLD)
    (row,) = await lab.settled([uuid])
    assert row.vm_state == "active" and row.host == "bm-1"
    (port,) = await _ports(lab, uuid)
    assert port.mac_address == "52:54:01:00:00:07" and port.binding_vnic_type == "baremetal"
    (entry,) = row.addresses["provider"]
    assert entry["OS-EXT-IPS-MAC:mac_addr"] == "52:54:01:00:00:07"
    assert entry["addr"].startswith("10.1.")


async def test_a_node_mac_follows_the_node_when_a_build_leaves_it(lab: Lab) -> None:
    # A build that fails on its nodes keeps its port; the nodes' next servers must still
    # get ports with the nodes' NIC MACs (the old port's binding to them is stale).
    nodes = {"bm-1": "52:54:01:00:00:01", "bm-2": "52:54:01:00:00:02"}
    await lab.add_nodes({name: [mac] for name, mac in nodes.items()})
    await lab.start()
    lab.agent.fail_spawn_on = set(nodes)
    (failed_uuid,) = await lab.create(1, flavor=GOLD)
    (failed,) = await lab.settled([failed_uuid])
    assert failed.vm_state == "error"
    assert set(failed.tried_hosts or []) == set(nodes)  # it was rebound from one to the other
    (stale,) = await _ports(lab, failed_uuid)
    lab.agent.fail_spawn_on = set()
    uuids = await lab.create(2, flavor=GOLD)
    rows = await lab.settled(uuids)
    assert [r.vm_state for r in rows] == ["active", "active"]
    for row in rows:
        (port,) = await _ports(lab, row.uuid)
        assert port.mac_address == nodes[str(row.host)]
        (entry,) = row.addresses["provider"]
        assert entry["OS-EXT-IPS-MAC:mac_addr"] == nodes[str(row.host)]
    (kept,) = await _ports(lab, failed_uuid)
    assert kept.id == stale.id and kept.mac_address not in nodes.values()


def _updates(lab: Lab, uuid: str) -> list[dict[str, Any]]:
    return [
        m for m in lab.agent.received
        if m["op"] == "update_ports" and m["instance"]["uuid"] == uuid
    ]  # fmt: skip


async def _queued(lab: Lab) -> int:
    async with lab.db.session() as s:
        return int(await s.scalar(select(func.count(SecurityGroupMemberChange.id))) or 0)


async def test_rule_and_membership_changes_reach_every_affected_host(lab: Lab) -> None:
    await lab.add_hosts(2)
    await lab.start()
    (a,) = await lab.create(1)
    await lab.settled([a])
    (b,) = await lab.create(1)
    (row_a, row_b) = await lab.settled([a, b])
    ip_b = row_b.addresses["provider"][0]["addr"]
    # Going ACTIVE only marks a server (its build holds its own row); the pass then tells
    # the peers in a transaction of its own. B joined the default group, whose ingress
    # rule names the group itself: A owes an update with B's address, and each server
    # re-reads its own rules once.
    assert (row_a.ports_rev, row_b.ports_rev) == (0, 0)
    assert (row_a.ports_announce, row_b.ports_announce) == (True, True)
    assert await lab.conductor.portsync.run_once() == 2
    rows = await lab.wait(
        [a, b], lambda r: r.ports_synced_rev == r.ports_rev > 0 and not r.ports_announce
    )
    update = _updates(lab, a)[-1]
    ingress = [r for r in update["instance"]["ports"][0]["security_rules"]
               if r["direction"] == "ingress" and r["ethertype"] == "IPv4"]  # fmt: skip
    assert ip_b in ingress[0]["remote_ips"]
    assert await lab.conductor.portsync.run_once() == 0  # nothing owed any more

    # A rule added to the group: both members' hosts apply it.
    async with lab.db.session() as s:
        (port,) = await _ports_of(s, a)
        (group_id,) = await secgroups_of(s, port.id)
        await secgroups.create_rule(
            s, admin_ctx(), {"security_group_id": group_id, "direction": "ingress",
                             "protocol": "icmp", "ethertype": "IPv4"},
        )  # fmt: skip
    assert await lab.conductor.portsync.run_once() == 2
    rows = await lab.wait([a, b], lambda r: r.ports_synced_rev == r.ports_rev)
    for uuid in (a, b):
        rules = _updates(lab, uuid)[-1]["instance"]["ports"][0]["security_rules"]
        assert any(r["protocol"] == "icmp" and r["remote_ips"] is None for r in rules)
    assert all(p.status == "ACTIVE" for p in await _ports(lab))

    # A host that cannot apply them leaves the ports DOWN, with the reason as a fault.
    lab.agent.fail_ops = {"update_ports"}
    await lab.task(b, "deleting")
    rev_a = (await lab.row(a)).ports_rev
    await lab.wait([b], lambda r: r.vm_state == "deleted")
    # The delete's transaction (holding B's row and its host's) only queued the change:
    # A's row is bumped by the pass, in a transaction of its own.
    assert (await lab.row(a)).ports_rev == rev_a
    assert await _queued(lab) == 1
    assert await lab.conductor.portsync.run_once() == 1  # B's address left A's peers
    assert await _queued(lab) == 0
    (row_a,) = await lab.wait([a], lambda r: r.ports_synced_rev == r.ports_rev)
    (port,) = await _ports(lab, a)
    assert port.status == "DOWN"
    async with lab.db.session() as s:
        faults = list(
            await s.scalars(select(InstanceFault).where(InstanceFault.instance_uuid == a))
        )
    assert "could not be applied" in faults[-1].message
    assert "update_ports failed" in faults[-1].message
    assert rows


async def test_a_baremetal_peer_is_told_to_vms_but_gets_no_port_updates(lab: Lab) -> None:
    # A whole machine's rules belong to its switch: its agent has nothing to apply, so
    # its debt is recorded as applied; a VM peer still learns the node's address.
    (vm_host,) = await lab.add_hosts(1)
    await lab.add_nodes({"bm-1": ["52:54:01:00:00:09"]})
    await lab.start()
    (vm,) = await lab.create(1)
    (bm,) = await lab.create(1, flavor=GOLD)
    rows = await lab.settled([vm, bm])
    assert [r.host for r in rows] == [vm_host, "bm-1"]
    bm_ip = rows[1].addresses["provider"][0]["addr"]
    assert await lab.conductor.portsync.run_once() == 1  # the VM's host only
    after = await lab.wait(
        [vm, bm], lambda r: r.ports_synced_rev == r.ports_rev > 0 and not r.ports_announce
    )
    # Recording the debt as applied is bookkeeping: the node's server did not change.
    assert after[1].updated_at == rows[1].updated_at
    assert _updates(lab, bm) == []
    rules = _updates(lab, vm)[-1]["instance"]["ports"][0]["security_rules"]
    assert any(bm_ip in (r["remote_ips"] or []) for r in rules)
    assert all(p.status == "ACTIVE" for p in await _ports(lab))
    assert await lab.conductor.portsync.run_once() == 0


async def test_a_burst_going_active_bumps_each_peer_once_per_pass(lab: Lab) -> None:
    # Five servers of one group go ACTIVE before a pass: the pass tells all their peers
    # in one UPDATE, so each server owes one update, not one per newcomer (a 1,000-server
    # burst in the default group was a million row updates).
    await lab.add_hosts(2)
    await lab.start()
    uuids = await lab.create(5)
    rows = await lab.settled(uuids)
    assert all(r.ports_announce and r.ports_rev == 0 for r in rows)
    assert await lab.conductor.portsync.tell_peers() == 5
    async with lab.db.session() as s:
        after = list(await s.scalars(select(Instance).where(Instance.uuid.in_(uuids))))
    assert sorted((r.ports_rev, r.ports_announce) for r in after) == [(1, False)] * 5
    assert await lab.conductor.portsync.tell_peers() == 0
    assert await lab.conductor.portsync.run_once() == 5
    await lab.wait(uuids, lambda r: r.ports_synced_rev == r.ports_rev == 1)
    # Every server's update names the other four as the group's members.
    addrs = {r.uuid: r.addresses["provider"][0]["addr"] for r in rows}
    for uuid in uuids:
        rules = _updates(lab, uuid)[-1]["instance"]["ports"][0]["security_rules"]
        ingress = [r for r in rules if r["direction"] == "ingress" and r["ethertype"] == "IPv4"]
        assert set(addrs.values()) <= set(ingress[0]["remote_ips"])


async def test_a_burst_past_the_port_quota_fails_the_builds_beyond_it(lab: Lab) -> None:
    """The API counts the ports that exist, so creates sent together all pass it; the
    ports are counted again as they are made (Neutron's refusal), not made past it."""
    async with lab.db.session() as s:
        s.add(NetworkQuota(project_id="p1", resource="port", hard_limit=3))
    await lab.add_hosts(2)
    uuids = await lab.create(5)
    await lab.start()
    rows = await lab.settled(uuids)
    assert sorted(r.vm_state for r in rows) == ["active"] * 3 + ["error"] * 2
    assert len(await _ports(lab)) == 3
    async with lab.db.session() as s:
        faults = list(await s.scalars(select(InstanceFault.message)))
    assert (
        faults
        == [
            "Failed to allocate the network(s) with error Maximum number of ports exceeded,"
            " not rescheduling."
        ]
        * 2
    )
    assert sum(h.running_vms for h in await lab.host_rows()) == 3


@pytest.mark.backend("sqlite", "postgresql", "mariadb")
async def test_two_conductors_send_a_revision_once_and_again_only_when_lost(lab: Lab) -> None:
    await lab.add_hosts(2)
    await lab.start(2)
    uuids = await lab.create(3)
    await lab.settled(uuids)
    assert await lab.conductor.portsync.tell_peers() == 3
    # Both conductors' passes at once: each server's update goes out once, not twice.
    sent = await asyncio.gather(*(c.portsync.run_once() for c in lab.conductors))
    assert sorted(sent) == [0, 3]
    await lab.wait(uuids, lambda r: r.ports_synced_rev == r.ports_rev == 1)
    assert [len(_updates(lab, u)) for u in uuids] == [1, 1, 1]
    # An update in flight is not sent again; one unanswered past an op lease is.
    first = uuids[0]
    async with lab.db.session() as s:
        await s.execute(
            update(Instance)
            .where(Instance.uuid == first)
            .values(ports_rev=2, ports_sent_rev=2, ports_sent_at=utcnow())
        )
    assert await lab.conductor.portsync.run_once() == 0
    async with lab.db.session() as s:
        lost = utcnow() - lab.conductor.ctx.op_lease() - timedelta(seconds=1)
        await s.execute(update(Instance).where(Instance.uuid == first).values(ports_sent_at=lost))
    assert await lab.conductors[1].portsync.run_once() == 1
    await lab.wait([first], lambda r: r.ports_synced_rev == 2)
    assert len(_updates(lab, first)) == 2
