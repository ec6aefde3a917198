"""Networks: visibility, provider segments (flat | vlan), create, update, delete."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, delete, func, or_, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.db.models import Host, Network, Port, Subnet
from stockyard.identity.context import RequestContext
from stockyard.network import quota
from stockyard.network.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    delete_or_not_found,
    network_in_use,
    not_found,
)

MAX_MTU = 1500
MIN_MTU = 68
VLAN_RANGE = (1, 4094)
NETWORK_TYPES = ("flat", "vlan")


def visible(ctx: RequestContext) -> ColumnElement[bool]:
    """Members see their project's networks plus shared and external ones."""
    if ctx.is_admin:
        return true()
    return or_(
        Network.project_id == ctx.project_id,
        Network.shared.is_(True),
        Network.router_external.is_(True),
    )


async def get(session: AsyncSession, ctx: RequestContext, network_id: str) -> Network:
    net = await session.scalar(select(Network).where(Network.id == network_id, visible(ctx)))
    if net is None:
        raise not_found("Network", network_id)
    return net


def owns(ctx: RequestContext, net: Network) -> bool:
    return ctx.is_admin or net.project_id == ctx.project_id


def segment(attrs: dict[str, Any]) -> tuple[str | None, str | None, int | None, str | None]:
    """(type, physnet, segmentation id, unique key) from the provider attributes."""
    net_type = attrs.get("provider:network_type")
    physnet = attrs.get("provider:physical_network")
    seg_id = attrs.get("provider:segmentation_id")
    if net_type is None:
        if physnet is not None or seg_id is not None:
            raise InvalidInput("network_type required")
        return None, None, None, None
    if net_type not in NETWORK_TYPES:
        raise InvalidInput(f"network_type value '{net_type}' not supported")
    if not physnet:
        raise InvalidInput(f"physical_network required for {net_type} provider network")
    if net_type == "flat":
        if seg_id is not None:
            raise InvalidInput("segmentation_id specified for flat network")
        return net_type, physnet, None, f"flat:{physnet}"
    if seg_id is None:
        raise InvalidInput("segmentation_id required for VLAN provider network")
    try:
        number = int(seg_id)
    except (TypeError, ValueError):
        raise InvalidInput(f"segmentation_id '{seg_id}' is not an integer") from None
    if isinstance(seg_id, bool) or not VLAN_RANGE[0] <= number <= VLAN_RANGE[1]:
        raise InvalidInput(
            f"segmentation_id out of range ({VLAN_RANGE[0]} through {VLAN_RANGE[1]})"
        )
    return net_type, physnet, number, f"vlan:{physnet}:{number}"


def _segment_in_use(net_type: str, physnet: str | None, seg_id: int | None) -> Conflict:
    if net_type == "flat":
        return Conflict(
            f"Unable to create the flat network. Physical network {physnet} is in use.",
            type="FlatNetworkInUse",
        )
    return Conflict(
        f"Unable to create the network. The VLAN {seg_id} on physical network {physnet} is in use.",
        type="VlanIdInUse",
    )


def check_mtu(mtu: int) -> None:
    if mtu > MAX_MTU:
        raise InvalidInput(f"Requested MTU is too big, maximum is {MAX_MTU}")
    if mtu < MIN_MTU:
        raise InvalidInput(f"Requested MTU is too small, minimum is {MIN_MTU}")


async def check_zones(session: AsyncSession, hints: list[str]) -> None:
    """Each hint must name an availability zone of the cloud's hosts (Neutron's agents'
    zones; here the hosts carry them), or 404 AvailabilityZoneNotFound."""
    if not hints:
        return
    known = set(await session.scalars(select(Host.az).distinct()))
    for zone in hints:
        if zone not in known:
            raise NotFound(
                f"AvailabilityZone {zone} could not be found.", type="AvailabilityZoneNotFound"
            )


async def create(session: AsyncSession, project_id: str, attrs: dict[str, Any]) -> Network:
    """A network from validated attributes (provider ones already admin-checked)."""
    net_type, physnet, seg_id, key = segment(attrs)
    await check_zones(session, list(attrs.get("availability_zone_hints", [])))
    mtu = int(attrs.get("mtu", MAX_MTU))
    check_mtu(mtu)
    await quota.check(session, project_id, "network")
    net = Network(
        project_id=project_id,
        name=attrs.get("name", ""),
        description=attrs.get("description", ""),
        admin_state_up=attrs.get("admin_state_up", True),
        shared=attrs.get("shared", False),
        router_external=attrs.get("router:external", False),
        mtu=mtu,
        port_security_enabled=attrs.get("port_security_enabled", True),
        network_type=net_type,
        physical_network=physnet,
        segmentation_id=seg_id,
        segment_key=key,
        availability_zone_hints=list(attrs.get("availability_zone_hints", [])),
    )
    if key is not None:
        taken = await session.scalar(select(Network.id).where(Network.segment_key == key))
        if taken is not None:
            raise _segment_in_use(str(net_type), physnet, seg_id)
        try:
            async with session.begin_nested():
                session.add(net)
        except IntegrityError:
            raise _segment_in_use(str(net_type), physnet, seg_id) from None
    else:
        session.add(net)
    await session.flush()
    return net


async def update(
    session: AsyncSession, ctx: RequestContext, network_id: str, changes: dict[str, Any]
) -> Network:
    net = await get(session, ctx, network_id)
    if not owns(ctx, net):
        raise not_found("Network", network_id)
    provider = [k for k in changes if k.startswith("provider:")]
    if provider:
        current = {
            "provider:network_type": net.network_type,
            "provider:physical_network": net.physical_network,
            "provider:segmentation_id": net.segmentation_id,
        }
        if any(changes[k] != current[k] for k in provider):
            raise InvalidInput(
                "Plugin does not support updating the following provider network attributes: "
                + ", ".join(sorted(provider))
            )
    if "mtu" in changes:
        check_mtu(int(changes["mtu"]))
    if changes.get("shared") is False and net.shared:
        others = await session.scalar(
            select(func.count())
            .select_from(Port)
            .where(Port.network_id == net.id, Port.project_id != net.project_id)
        )
        if others:
            raise Conflict(
                f"Unable to reconfigure sharing settings for network {net.id}. "
                "Multiple tenants are using it.",
                type="InvalidSharedSetting",
            )
    columns = {"router:external": "router_external"}
    for key in ("name", "description", "admin_state_up", "shared", "router:external", "mtu",
                "port_security_enabled", "availability_zone_hints"):  # fmt: skip
        if key in changes:
            setattr(net, columns.get(key, key), changes[key])
    net.revision_number += 1
    await session.flush()
    return net


async def remove(session: AsyncSession, ctx: RequestContext, network_id: str) -> None:
    """Delete the network and its subnets; 409 NetworkInUse while it has ports."""
    net = await get(session, ctx, network_id)
    if not owns(ctx, net):
        raise not_found("Network", network_id)
    ports = await session.scalar(
        select(func.count()).select_from(Port).where(Port.network_id == net.id)
    )
    if ports:
        raise network_in_use(net.id)
    await session.execute(delete(Subnet).where(Subnet.network_id == net.id))
    await delete_or_not_found(session, net, "Network")


async def subnet_ids(session: AsyncSession, network_ids: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {nid: [] for nid in network_ids}
    if network_ids:
        rows = await session.execute(
            select(Subnet.network_id, Subnet.id)
            .where(Subnet.network_id.in_(network_ids))
            .order_by(Subnet.created_at, Subnet.id)
        )
        for nid, sid in rows:
            out[nid].append(sid)
    return out
