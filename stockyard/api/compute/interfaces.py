"""``/servers/{id}/os-interface``: Nova's interface attachments, from Networking v2 ports.

List and show read the server's ports (``tag`` from 2.70). Attach binds the user's port
(``port_id``) or creates one on a network (``net_id``, optional ``fixed_ips``; neither:
the one network the project may use) in the request's transaction, records the
``attach_interface`` action and hints the conductor, whose interface flow plugs it on the
host; the answer is the attachment, ``port_state`` ``DOWN`` until the host has plugged
it. Detach (202) marks the port ``detaching``; the flow unplugs it, then deletes a port
made by the attach or unbinds the user's. Errors are Nova's (codes and messages).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from fastapi import APIRouter, Body, Request, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.api.compute.interface_body import AttachRequest, parse_attach
from stockyard.api.compute.server_common import (
    ensure_unlocked,
    hint_conductor,
    load_server,
    request_id,
)
from stockyard.api.compute.server_networks import check_port_quota
from stockyard.api.deps import Microversion, ProjectCtx, SessionDep, StateDep, WriterCtx
from stockyard.api.errors import APIError
from stockyard.api.microversion import APIVersion
from stockyard.db.models import Instance, InstanceAction, IPAllocation, Network, Port, Subnet
from stockyard.identity.context import RequestContext
from stockyard.lifecycle import records
from stockyard.network import interfaces, networks, ports, provider, server_ports

router = APIRouter()
STATES = ("active", "stopped")
"""Nova's check_instance_state for attach/detach (ACTIVE, PAUSED, STOPPED; no pause here)."""


async def _fixed_ips(s: AsyncSession, port_ids: list[str]) -> dict[str, list[dict[str, str]]]:
    out: dict[str, list[dict[str, str]]] = {pid: [] for pid in port_ids}
    if port_ids:
        rows = await s.execute(
            select(IPAllocation.port_id, IPAllocation.subnet_id, IPAllocation.ip_address)
            .where(IPAllocation.port_id.in_(port_ids))
            .order_by(IPAllocation.id)
        )
        for pid, subnet_id, ip in rows:
            out[pid].append({"subnet_id": subnet_id, "ip_address": ip})
    return out


def _view(
    port: Port, fixed: list[dict[str, str]], inst: Instance, version: APIVersion
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "net_id": port.network_id,
        "port_id": port.id,
        "mac_addr": port.mac_address,
        "port_state": port.status,
        "fixed_ips": fixed,
    }
    if version.at_least("2.70"):
        body["tag"] = interfaces.tag_of(inst, port.id)
    return body


async def _one_view(s: AsyncSession, port: Port, inst: Instance, v: APIVersion) -> dict[str, Any]:
    fixed = await _fixed_ips(s, [port.id])
    return {"interfaceAttachment": _view(port, fixed[port.id], inst, v)}


def _check_state(inst: Instance, action: str) -> None:
    if inst.vm_state not in STATES:
        raise APIError(
            409, f"Cannot '{action}' instance {inst.uuid} while it is in vm_state {inst.vm_state}"
        )
    if inst.task_state is not None:
        raise APIError(
            409,
            f"Cannot '{action}' instance {inst.uuid} while it is in task_state {inst.task_state}",
        )


@router.get("/servers/{server_id}/os-interface")
async def list_interfaces(
    server_id: str, session: SessionDep, ctx: ProjectCtx, version: Microversion
) -> dict[str, Any]:
    inst = await load_server(session, ctx, server_id)
    rows = await server_ports.instance_ports(session, inst)
    fixed = await _fixed_ips(session, [p.id for p in rows])
    return {"interfaceAttachments": [_view(p, fixed[p.id], inst, version) for p in rows]}


@router.get("/servers/{server_id}/os-interface/{port_id}")
async def show_interface(
    server_id: str, port_id: str, session: SessionDep, ctx: ProjectCtx, version: Microversion
) -> dict[str, Any]:
    inst = await load_server(session, ctx, server_id)
    port = await session.get(Port, port_id)
    if port is None:
        raise APIError(404, f"Port {port_id} could not be found.")
    if port.device_id != inst.uuid:
        raise APIError(404, f"Instance {server_id} does not have a port with id {port_id}")
    return await _one_view(session, port, inst, version)


async def _auto_network(s: AsyncSession, inst: Instance) -> Network:
    """Nova's choice without ``net_id``: the one network the project may attach to (its
    own, or a shared one; of the provider networks, its region's)."""
    candidates = list(
        await s.scalars(
            select(Network).where(
                (Network.project_id == inst.project_id)
                | (Network.shared.is_(True) & Network.router_external.is_(False))
            )
        )
    )
    own_region = provider.segment_key(inst.region or "")
    usable = [n for n in candidates if n.segment_key is None or n.segment_key == own_region]
    if not usable:
        raise APIError(
            400,
            "No specific network was requested and none are available for project "
            f"'{inst.project_id}'.",
        )
    if len(usable) > 1:
        raise APIError(
            400,
            "More than one possible network found. Specify network ID(s) to select which "
            "one(s) to connect to.",
        )
    return usable[0]


async def _requested_ip(s: AsyncSession, inst: Instance, net: Network, value: str) -> str:
    ip = ipaddress.ip_address(value)  # the body's schema checked the format
    cidrs = await s.scalars(select(Subnet.cidr).where(Subnet.network_id == net.id))
    if not any(ip in ipaddress.ip_network(c) for c in cidrs):
        raise APIError(400, f"Fixed IP address {ip} is not valid for network {net.id}.")
    taken = await s.scalar(
        select(IPAllocation.id).where(
            IPAllocation.network_id == net.id, IPAllocation.ip_address == str(ip)
        )
    )
    if taken is not None:
        raise APIError(409, f"Fixed IP address {ip} is already in use on instance {inst.uuid}.")
    return str(ip)


async def _attach(s: AsyncSession, ctx: RequestContext, inst: Instance, req: AttachRequest) -> Port:
    if req.port_id:
        port = await s.scalar(select(Port).where(Port.id == req.port_id, ports.visible(ctx)))
        if port is None:
            raise APIError(404, f"Port {req.port_id} could not be found.")
        if port.device_id:
            raise APIError(409, f"Port {port.id} is still in use.")
        mac = await interfaces.free_nic(s, inst)
        return await interfaces.attach_port(s, inst, port, req.tag, mac)
    if req.net_id:
        net = await s.scalar(select(Network).where(Network.id == req.net_id, networks.visible(ctx)))
        if net is None:
            raise APIError(404, f"Network {req.net_id} could not be found.")
    else:
        net = await _auto_network(s, inst)
    ip = await _requested_ip(s, inst, net, req.ip) if req.ip else None
    await check_port_quota(s, ctx, 1)
    mac = await interfaces.free_nic(s, inst)
    return await interfaces.attach_network(s, inst, net, ip, req.tag, mac)


def _record(s: AsyncSession, inst: Instance, name: str, ctx: RequestContext, rid: str) -> None:
    s.add(
        InstanceAction(
            instance_uuid=inst.uuid,
            action=name,
            request_id=rid,
            user_id=ctx.user_id,
            project_id=ctx.project_id or inst.project_id,
        )
    )


async def _refuse_on_host(
    s: AsyncSession, inst: Instance, ctx: RequestContext, rid: str, reason: str
) -> None:
    """What Nova's compute answers when the driver cannot plug the VIF (Ironic without a
    free physical port): the action is recorded with its failed event, the API says 500."""
    _record(s, inst, "attach_interface", ctx, rid)
    await s.flush()
    event = "compute_attach_interface"
    await records.finish_event(s, inst.uuid, event, False, traceback=reason, host=inst.host)
    await records.finish_action(s, inst.uuid)
    await s.commit()
    raise APIError(500, f"Failed to attach network adapter device to {inst.uuid}")


@router.post("/servers/{server_id}/os-interface")
async def attach_interface(
    server_id: str,
    session: SessionDep,
    ctx: WriterCtx,
    state: StateDep,
    version: Microversion,
    request: Request,
    body: Any = Body(None),
) -> dict[str, Any]:
    req = parse_attach(body, version)
    inst = await load_server(session, ctx, server_id, for_update=True)
    if req.net_id and req.port_id:
        raise APIError(400, "Must not input both network_id and port_id")
    if req.ip and not req.net_id:
        raise APIError(400, "Must input network_id when request IP address")
    ensure_unlocked(ctx, inst)
    _check_state(inst, "attach_interface")
    rid = request_id(request)
    try:
        port = await _attach(session, ctx, inst, req)
    except interfaces.InterfaceError as exc:
        await session.rollback()
        if exc.status == 500:
            inst = await load_server(session, ctx, server_id, for_update=True)
            await _refuse_on_host(session, inst, ctx, rid, exc.message)
        raise APIError(exc.status, exc.message) from None
    _record(session, inst, "attach_interface", ctx, rid)
    answer = await _one_view(session, port, inst, version)
    await session.commit()
    await hint_conductor(state, inst.uuid, rid)
    return answer


@router.delete("/servers/{server_id}/os-interface/{port_id}", status_code=202)
async def detach_interface(
    server_id: str,
    port_id: str,
    session: SessionDep,
    ctx: WriterCtx,
    state: StateDep,
    request: Request,
) -> Response:
    inst = await load_server(session, ctx, server_id, for_update=True)
    ensure_unlocked(ctx, inst)
    _check_state(inst, "detach_interface")
    port = await session.get(Port, port_id)
    if port is None or port.device_id != inst.uuid:
        raise APIError(404, f"Port {port_id} is not attached")
    if port.iface_op is not None:
        raise APIError(
            409, f"Port {port_id} of instance {inst.uuid} is {port.iface_op}; try again later."
        )
    port.iface_op = interfaces.DETACHING
    port.iface_lease_owner = None
    port.iface_lease_expires = None
    rid = request_id(request)
    _record(session, inst, "detach_interface", ctx, rid)
    await session.commit()
    await hint_conductor(state, inst.uuid, rid)
    return Response(status_code=202)
