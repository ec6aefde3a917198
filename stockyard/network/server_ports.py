"""A server's ports: created and bound when it is placed, released when it is deleted.

``Instance.requested_networks`` holds what the API validated, one entry per interface:

- ``{"provider": true}``: a port on the provider network of the region the server is
  placed in (``networks: "auto"`` without a project network, or before 2.37);
- ``{"uuid": net, "fixed_ip"?: ip}``: a port Stockyard creates on that network;
- ``{"port": id}``: the user's own port (kept, unbound, when the server is deleted —
  Nova's preserve-on-delete).

Entries may carry ``tag`` and ``security_groups`` (group ids for the ports created), and
``port_id`` once their port exists: binding is idempotent per instance (a retried or
rescheduled placement re-binds the same ports instead of creating more). ``None`` is
the legacy form of ``[{"provider": true}]``; ``[]`` is ``networks: "none"``: no port.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.bus import contract
from stockyard.db.base import delete_once
from stockyard.db.models import Instance, Network, Port, PortSecurityGroup
from stockyard.network import (
    ipam,
    port_specs,
    port_sync,
    provider,
    quota,
    secgroups,
    subnets,
)
from stockyard.network.ports import free_mac

MAC_PREFIX = "fa:16:3e"
_MAC_TRIES = 16


class BindFailed(Exception):
    """A port of the server could not be created or bound (the user's fault message)."""


class PortQuotaExceeded(BindFailed):
    """The project has no port left in its quota: the build fails, no other host helps.

    The API counts only the ports that exist, as Nova's does, so a burst of creates can
    pass it before any of their ports exist; this is Neutron's refusal at port create."""

    def __init__(self) -> None:
        super().__init__("Maximum number of ports exceeded")


def entries_of(inst: Instance) -> list[dict[str, Any]]:
    """The instance's interface requests, legacy ``None`` read as the provider network."""
    if inst.requested_networks is None:
        return [{"provider": True}]
    return [dict(e) for e in inst.requested_networks if isinstance(e, dict)]


def user_port_ids(inst: Instance) -> set[str]:
    """Ports the user brought: unbound, not deleted, with the server."""
    return {str(e["port"]) for e in entries_of(inst) if e.get("port")}


async def new_port(
    session: AsyncSession, inst: Instance, net: Network, entry: dict[str, Any], mac: str | None
) -> Port:
    requests = [ipam.FixedIP(None, str(entry["fixed_ip"]))] if entry.get("fixed_ip") else None
    if not await quota.fits(session, inst.project_id, "port"):
        raise PortQuotaExceeded()
    groups = [str(g) for g in entry.get("security_groups") or []]
    if not groups and net.port_security_enabled:
        groups = [await secgroups.ensure_default(session, inst.project_id)]
    port: Port | None = None
    if mac:
        await _free_node_mac(session, net.id, mac, None)
    for attempt in range(_MAC_TRIES):
        candidate = Port(
            network_id=net.id,
            project_id=inst.project_id,
            mac_address=mac if mac and attempt == 0 else _random_mac(),
            device_id=inst.uuid,
            port_security_enabled=net.port_security_enabled,
        )
        try:
            # The unique (network, MAC) decides: a clash costs a savepoint, not the build.
            async with session.begin_nested():
                session.add(candidate)
        except IntegrityError:
            if mac and attempt == 0:
                raise BindFailed(
                    f"MAC address {mac} is already in use on network {net.id}."
                ) from None
            continue
        port = candidate
        break
    if port is None:
        raise BindFailed(f"No free MAC address on network {net.id}.")
    try:
        pool = await subnets.of_network(session, net.id)
        await ipam.allocate(session, port.id, net.id, pool, requests, port.mac_address)
    except Exception as exc:  # IPAM's NeutronError: the reason the user sees
        raise BindFailed(f"Port creation on network {net.id} failed: {exc}") from exc
    if not net.port_security_enabled:
        groups = []
    session.add_all(PortSecurityGroup(port_id=port.id, security_group_id=g) for g in groups)
    return port


def _random_mac() -> str:
    return MAC_PREFIX + ":" + ":".join(f"{random.randrange(256):02x}" for _ in range(3))


async def _free_node_mac(
    session: AsyncSession, network_id: str, mac: str, keep: Port | None
) -> None:
    """Take a baremetal node's NIC MAC back from a port that still carries it from an
    earlier binding to that node.

    Our caller holds the node's claim, so any other baremetal-bound port with its MAC is
    stale: a build rescheduled off the node, or one that failed there, keeps its port
    (and its addresses) until it is placed again or deleted. That port gets a fresh MAC
    and takes a node's again when it is bound to one. A port bound any other way (a
    user's port created with that MAC) is not touched: the clash stays the user's error.
    The server that owns the port (an ERROR one, say) shows the port's new MAC and SLAAC
    addresses, not the ones the node has taken back.
    """
    holders = await session.scalars(
        select(Port).where(
            Port.network_id == network_id,
            Port.mac_address == mac,
            Port.binding_vnic_type == "baremetal",
        )
    )
    for holder in holders:
        if holder is keep:
            continue
        holder.mac_address = await free_mac(session, network_id)
        await ipam.follow_mac(session, holder.id, holder.mac_address)
        holder.revision_number += 1
        await session.flush()
        if holder.device_id:
            owner = await session.scalar(
                select(Instance).where(
                    Instance.uuid == holder.device_id, Instance.deleted.is_(False)
                )
            )
            if owner is not None:
                await refresh(session, owner)


async def take_node_mac(session: AsyncSession, port: Port, mac: str) -> None:
    """A port bound to a baremetal node carries the node's NIC MAC (as Ironic sets the
    Neutron port's MAC when it attaches a VIF): a port rebound to another node, after a
    reschedule, takes the new node's."""
    if port.mac_address == mac:
        return
    network_id = port.network_id  # read now: a failed savepoint expires the port
    await _free_node_mac(session, network_id, mac, port)
    try:
        # Changed inside the savepoint: begin_nested() flushes what is pending first,
        # and a clash there would doom the whole transaction.
        async with session.begin_nested():
            port.mac_address = mac
            port.revision_number += 1
            await ipam.follow_mac(session, port.id, mac)
            await session.flush()
    except IntegrityError:
        raise BindFailed(f"MAC address {mac} is already in use on network {network_id}.") from None


async def delete_port(session: AsyncSession, port: Port) -> None:
    await ipam.release(session, port.id)
    await session.execute(delete(PortSecurityGroup).where(PortSecurityGroup.port_id == port.id))
    await delete_once(session, port)  # already gone (a concurrent delete): nothing to do
    await session.flush()


async def _entry_port(
    session: AsyncSession, inst: Instance, entry: dict[str, Any], region: str, mac: str | None
) -> Port:
    if entry.get("port"):
        port = await session.get(Port, str(entry["port"]))
        if port is None:
            raise BindFailed(f"Port id {entry['port']} could not be found.")
        if port.device_id not in ("", inst.uuid):
            raise BindFailed(f"Port {port.id} is still in use.")
        return port
    port = await session.get(Port, str(entry["port_id"])) if entry.get("port_id") else None
    net: Network | None
    if entry.get("provider"):
        net = await provider.ensure(session, region)
        if port is not None and port.network_id != net.id:
            await delete_port(session, port)  # rescheduled to another region
            port = None
    else:
        net = await session.get(Network, str(entry.get("uuid")))
        if net is None:
            raise BindFailed(f"Network {entry.get('uuid')} could not be found.")
    if port is None:
        port = await new_port(session, inst, net, entry, mac)
        entry["port_id"] = port.id
    return port


async def bind(
    session: AsyncSession,
    inst: Instance,
    *,
    host: str,
    region: str,
    az: str,
    macs: list[str] | None = None,
) -> None:
    """Create the instance's missing ports and bind them all to ``host``; refresh the
    instance's ``addresses`` and ``network_info``. Idempotent; raises
    :class:`BindFailed` (and leaves nothing behind: it runs in a savepoint).

    ``macs``: the NICs of a baremetal node, in order; its ports take them.
    """
    entries = entries_of(inst)
    ports: list[Port] = []
    async with session.begin_nested():
        for index, entry in enumerate(entries):
            mac = macs[index] if macs and index < len(macs) else None
            port = await _entry_port(session, inst, entry, region, mac)
            if mac:
                await take_node_mac(session, port, mac)
            port.device_id = inst.uuid
            port.device_owner = f"compute:{az}"
            port.binding_host_id = host
            if macs:
                port.binding_vnic_type = "baremetal"
            port.status = "ACTIVE" if port.admin_state_up else "DOWN"
            ports.append(port)
        await session.flush()
    if inst.requested_networks is not None or entries:
        inst.requested_networks = entries
    await refresh(session, inst, ports)


async def instance_ports(session: AsyncSession, inst: Instance) -> list[Port]:
    """The instance's ports: those its entries name first (interface order), then any
    other port whose device is the instance."""
    return (await instances_ports(session, [inst]))[inst.uuid]


async def instances_ports(
    session: AsyncSession, insts: Sequence[Instance]
) -> dict[str, list[Port]]:
    """:func:`instance_ports` of many instances in one query."""
    found: dict[str, dict[str, Port]] = {i.uuid: {} for i in insts}
    if found:
        for port in await session.scalars(select(Port).where(Port.device_id.in_(list(found)))):
            found[str(port.device_id)][port.id] = port
    out: dict[str, list[Port]] = {}
    for inst in insts:
        rows = found[inst.uuid]
        ordered: list[Port] = []
        for entry in entries_of(inst):
            pid = entry.get("port") or entry.get("port_id")
            if pid and pid in rows:
                ordered.append(rows.pop(str(pid)))
        ordered.extend(sorted(rows.values(), key=lambda p: (p.created_at, p.id)))
        out[inst.uuid] = ordered
    return out


async def refresh(session: AsyncSession, inst: Instance, ports: list[Port] | None = None) -> None:
    """Recompute the instance's ``network_info`` and ``addresses`` from its ports."""
    if ports is None:
        ports = await instance_ports(session, inst)
    _apply(inst, await port_specs.port_specs(session, ports))


async def refresh_many(session: AsyncSession, insts: Sequence[Instance]) -> None:
    """:func:`refresh` of many instances with one set of queries, not one per instance:
    a server joining the default group changes every peer's rules, so a port sync
    pass refreshes many servers that share networks, groups and members."""
    ports = await instances_ports(session, insts)
    specs = await port_specs.port_specs(session, [p for i in insts for p in ports[i.uuid]])
    by_id = {spec.id: spec for spec in specs}
    for inst in insts:
        _apply(inst, [by_id[p.id] for p in ports[inst.uuid]])


def _apply(inst: Instance, specs: list[contract.PortSpec]) -> None:
    info = [s.model_dump(mode="json") for s in specs]
    addrs = port_specs.addresses(specs)
    # Addresses a driver reported (libvirt's user-mode management NIC) are kept; those
    # of networks the instance had ports on are ours and follow the ports.
    names = {s.network_name or s.network_id for s in specs}
    old_names = {str(p.get("network_name") or p.get("network_id")) for p in inst.network_info or []}
    if inst.network_info != info:
        inst.network_info = info
    for name, value in (inst.addresses or {}).items():
        if name not in names and name not in old_names and name != provider.NETWORK_NAME:
            addrs.setdefault(name, value)
    if inst.addresses != addrs:
        inst.addresses = addrs


async def announce(session: AsyncSession, inst: Instance) -> None:
    """The instance runs with its ports: the peers whose remote-group rules name its
    groups must re-apply. Only marked here, in the transaction that holds the instance's
    own row; :func:`tell_peers` bumps them later in one of its own. (Bumping peers while
    holding one's own row deadlocked every other pair of a burst's builds on PostgreSQL:
    each held its row and waited for the other's.)"""
    inst.ports_announce = True


async def tell_peers(session: AsyncSession, uuids: Sequence[str]) -> None:
    """Bump the peers of announced instances, and the instances themselves, in one
    UPDATE.

    One statement over all the rows (own included, its own port sync then re-reads
    rules that peers going ACTIVE meanwhile changed) locks them in one order, so two
    conductors telling the peers of two servers at once cannot deadlock. Many
    announcements share it: a burst of N servers in one group bumps each peer once per
    pass, not N times (each bump of a 1,000-server group was a 1,000-row UPDATE).
    """
    announced = sorted(set(uuids))
    if not announced:
        return
    groups = set(
        await session.scalars(
            select(PortSecurityGroup.security_group_id)
            .join(Port, Port.id == PortSecurityGroup.port_id)
            .where(Port.device_id.in_(announced))
        )
    )
    await port_sync.bump_peers(session, groups, announced, clear_announce=announced)


async def release(session: AsyncSession, inst: Instance) -> None:
    """Delete the ports created for the instance; unbind the user's own (idempotent)."""
    keep = user_port_ids(inst)
    gone = list(await session.scalars(select(Port).where(Port.device_id == inst.uuid)))
    groups: set[str] = set()
    for port in gone:
        groups |= await port_sync.port_groups(session, port.id)
    # Its addresses leave the groups: peers with remote-group rules re-apply.
    await port_sync.membership_changed(session, groups)
    for port in gone:
        if port.id in keep:
            port.device_id = ""
            port.device_owner = ""
            port.binding_host_id = ""
            port.binding_vnic_type = "normal"
            port.status = "DOWN"
            # An attach or detach in flight ends with the server: its result is stale.
            port.iface_op = None
            port.iface_lease_owner = None
            port.iface_lease_expires = None
            port.revision_number += 1
        else:
            await delete_port(session, port)
    await session.flush()
