"""Nova's interface attach and detach, on the Networking v2 side.

An attached interface is one more entry of ``Instance.requested_networks`` (see
:mod:`stockyard.network.server_ports`): ``{"port": id}`` for the user's own port (kept,
unbound, when detached or when the server goes), ``{"uuid": net, "port_id": id}`` for a
port created on a network (deleted with its interface). The port is bound to the server
at once (``device_id``, ``binding:host_id``, ``DOWN``) with ``iface_op`` ``attaching``;
the conductor's interface flow plugs it on the host and ends the op: ``ACTIVE``, or the
interface removed again. A detach marks ``detaching``; its success removes the interface.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.db.base import execute_count
from stockyard.db.models import Host, Instance, Network, Port
from stockyard.network import port_sync, server_ports

ATTACHING = "attaching"
DETACHING = "detaching"
OPS = {ATTACHING: "attach_interface", DETACHING: "detach_interface"}
"""``Port.iface_op`` -> the op an agent runs for it."""


class InterfaceError(Exception):
    """The attach cannot be done; ``status`` is the HTTP code Nova answers with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def entry_port_id(entry: dict[str, Any]) -> str:
    return str(entry.get("port") or entry.get("port_id") or "")


def tag_of(inst: Instance, port_id: str) -> str | None:
    """The ``tag`` given for the interface of ``port_id`` (at create or attach)."""
    for entry in server_ports.entries_of(inst):
        if entry_port_id(entry) == port_id:
            tag = entry.get("tag")
            return str(tag) if tag is not None else None
    return None


async def free_nic(session: AsyncSession, inst: Instance) -> str | None:
    """For a baremetal server: the MAC of a node NIC no port of it carries, as Ironic's
    ``vif_attach`` picks a free physical port; ``None`` when every NIC has its VIF.
    Raises :class:`InterfaceError` naming the node when it has no free NIC."""
    host = await session.scalar(select(Host).where(Host.name == (inst.host or "")))
    if host is None or host.kind != "baremetal":
        return None
    used = {
        p.mac_address
        for p in await session.scalars(select(Port).where(Port.device_id == inst.uuid))
    }
    for mac in host.macs or []:
        if str(mac) not in used:
            return str(mac)
    raise InterfaceError(
        500,
        f"Unable to attach VIF to node {inst.node or host.name}, not enough free physical ports.",
    )


def _bind(port: Port, inst: Instance, mac: str | None) -> None:
    port.device_id = inst.uuid
    port.device_owner = f"compute:{inst.availability_zone or 'nova'}"
    port.binding_host_id = inst.host or ""
    if mac:
        # Ironic gives the VIF the MAC of the physical port it lands on.
        port.mac_address = mac
        port.binding_vnic_type = "baremetal"
    port.status = "DOWN"
    port.iface_op = ATTACHING
    port.iface_lease_owner = None
    port.iface_lease_expires = None


async def _add_entry(session: AsyncSession, inst: Instance, entry: dict[str, Any]) -> None:
    entries = server_ports.entries_of(inst)
    entries.append(entry)
    inst.requested_networks = entries  # a new list: the JSON column notices reassignment
    await server_ports.refresh(session, inst)


async def attach_port(
    session: AsyncSession, inst: Instance, port: Port, tag: str | None, mac: str | None
) -> Port:
    """Bind the user's ``port`` to ``inst``. A conditional UPDATE takes it: of two attaches
    (or a create) racing for one port, the others get Nova's 409."""
    taken = await execute_count(
        session,
        update(Port)
        .where(Port.id == port.id, Port.device_id == "")
        .values(device_id=inst.uuid, revision_number=Port.revision_number + 1)
        .execution_options(synchronize_session=False),
    )
    if taken != 1:
        raise InterfaceError(409, f"Port {port.id} is still in use.")
    await session.refresh(port)
    if mac:
        # A failed build's port may still carry this NIC's MAC on the same network.
        try:
            await server_ports.take_node_mac(session, port, mac)
        except server_ports.BindFailed as exc:
            raise InterfaceError(409, str(exc)) from None
    _bind(port, inst, mac)
    entry: dict[str, Any] = {"port": port.id}
    if tag is not None:
        entry["tag"] = tag
    await session.flush()
    await _add_entry(session, inst, entry)
    return port


async def attach_network(
    session: AsyncSession,
    inst: Instance,
    net: Network,
    fixed_ip: str | None,
    tag: str | None,
    mac: str | None,
) -> Port:
    """Create a port for ``inst`` on ``net`` (with the server's security groups) and bind it."""
    entry: dict[str, Any] = {"uuid": net.id}
    if fixed_ip:
        entry["fixed_ip"] = fixed_ip
    if tag is not None:
        entry["tag"] = tag
    groups = next(
        (e["security_groups"] for e in server_ports.entries_of(inst) if e.get("security_groups")),
        None,
    )
    if groups:
        entry["security_groups"] = list(groups)
    try:
        async with session.begin_nested():
            port = await server_ports.new_port(session, inst, net, entry, mac)
    except server_ports.BindFailed as exc:
        # Nova answers Neutron's port quota refusal with 403 (PortLimitExceeded).
        quota = isinstance(exc, server_ports.PortQuotaExceeded)
        raise InterfaceError(403 if quota else 400, str(exc)) from None
    _bind(port, inst, mac)
    entry["port_id"] = port.id
    await session.flush()
    await _add_entry(session, inst, entry)
    return port


async def remove(session: AsyncSession, inst: Instance, port: Port) -> None:
    """The interface of ``port`` leaves ``inst``: its entry goes, a port created for it is
    deleted, the user's own is unbound and kept; peers whose remote-group rules named
    its addresses re-apply."""
    groups = await port_sync.port_groups(session, port.id)
    await port_sync.membership_changed(session, groups)
    entries = server_ports.entries_of(inst)
    user_port = any(e.get("port") == port.id for e in entries)
    inst.requested_networks = [e for e in entries if entry_port_id(e) != port.id]
    if user_port:
        unbind(port)
    else:
        await server_ports.delete_port(session, port)
    await session.flush()
    await server_ports.refresh(session, inst)


def unbind(port: Port) -> None:
    """The user's port, free again (Nova's preserve-on-delete)."""
    port.device_id = ""
    port.device_owner = ""
    port.binding_host_id = ""
    port.binding_vnic_type = "normal"
    port.status = "DOWN"
    port.iface_op = None
    port.iface_lease_owner = None
    port.iface_lease_expires = None
    port.revision_number += 1


async def attached(session: AsyncSession, port: Port) -> None:
    """The host plugged the port: it is up, and its addresses joined its groups."""
    port.iface_op = None
    port.iface_lease_owner = None
    port.iface_lease_expires = None
    port.status = "ACTIVE" if port.admin_state_up else "DOWN"
    port.revision_number += 1
    groups = await port_sync.port_groups(session, port.id)
    await port_sync.membership_changed(session, groups)
