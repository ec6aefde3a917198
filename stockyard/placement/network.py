"""Fixed addresses on each region's flat provider network (no Neutron, same shape)."""

from __future__ import annotations

import ipaddress
import random
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.bus import contract
from stockyard.db.base import execute_count
from stockyard.db.models import AddressAllocation, Instance, Region

NETWORK_NAME = "provider"
DEFAULT_CIDR = "10.0.0.0/16"
_MAX_TRIES = 20


class AddressesExhausted(Exception):
    """The region's network has no free address left."""


def mac_for(address: str) -> str:
    """Deterministic MAC in OpenStack's ``fa:16:3e`` range: low 24 bits of the address.

    Unique within a region for any CIDR of /8 or smaller, and stable across retries.
    """
    low = int(ipaddress.ip_address(address)) & 0xFFFFFF
    return "fa:16:3e:" + ":".join(f"{(low >> s) & 0xFF:02x}" for s in (16, 8, 0))


def addresses_dict(address: str, mac: str) -> dict[str, Any]:
    """Nova's ``addresses`` field for one fixed IPv4 address on the provider network."""
    return {
        NETWORK_NAME: [
            {
                "version": 4,
                "addr": address,
                "OS-EXT-IPS:type": "fixed",
                "OS-EXT-IPS-MAC:mac_addr": mac,
            }
        ]
    }


async def allocate_address(
    session: AsyncSession, region: str, instance_uuid: str
) -> AddressAllocation:
    """The instance's address in ``region``, allocating the next free one if needed.

    Idempotent per instance; an address held in another region (rescheduled across
    regions) is given back. Uniqueness is the (region, address) constraint: losing a
    race raises IntegrityError inside a savepoint and the next address is tried.

    First try: the address after the region's latest allocation, without reading the
    region's other addresses (so freed addresses are reused once the network's end is
    reached). When that one is taken or there is none, the region's addresses are read
    and the lowest free one is taken.
    """
    held = (
        (
            await session.execute(
                select(AddressAllocation).where(AddressAllocation.instance_uuid == instance_uuid)
            )
        )
        .scalars()
        .all()
    )
    for alloc in held:
        if alloc.region == region:
            return alloc
    if held:
        await release_addresses(session, instance_uuid)
    row = await session.get(Region, region)
    network = ipaddress.ip_network(row.cidr if row is not None else DEFAULT_CIDR, strict=False)
    latest = (
        await session.execute(
            select(AddressAllocation.address)
            .where(AddressAllocation.region == region)
            .order_by(AddressAllocation.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    candidate = _next_after(network, latest)
    if candidate is not None:
        got = await _try_insert(session, region, candidate, instance_uuid)
        if got is not None:
            return got
    lost: set[str] = set() if candidate is None else {candidate}
    for attempt in range(_MAX_TRIES):
        # Addresses lost to a race stay excluded even where the isolation level would
        # still show this transaction its first snapshot (MariaDB's REPEATABLE READ).
        used = lost | set(
            (
                await session.execute(
                    select(AddressAllocation.address).where(AddressAllocation.region == region)
                )
            ).scalars()
        )
        # The first try takes the lowest free address; after a lost race, concurrent
        # placers (other schedulers) all want that same one, so spread out at random.
        address = _first_free(network, used) if attempt == 0 else _random_free(network, used)
        if address is None:
            raise AddressesExhausted(f"no free address left in {network} (region {region})")
        got = await _try_insert(session, region, address, instance_uuid)
        if got is None:
            lost.add(address)
            continue
        return got
    raise AddressesExhausted(f"could not allocate an address in region {region}: too many races")


async def _try_insert(
    session: AsyncSession, region: str, address: str, instance_uuid: str
) -> AddressAllocation | None:
    """Insert the allocation in a savepoint; None if another instance holds the address."""
    alloc = AddressAllocation(
        region=region, address=address, instance_uuid=instance_uuid, mac=mac_for(address)
    )
    try:
        async with session.begin_nested():
            session.add(alloc)
    except IntegrityError:
        return None
    return alloc


def _next_after(
    network: ipaddress.IPv4Network | ipaddress.IPv6Network, latest: str | None
) -> str | None:
    """The host address after ``latest`` in ``network``; None at the end or if ``latest``
    is not an address of it (the region's CIDR changed)."""
    if latest is None:
        return None
    try:
        ip = ipaddress.ip_address(latest)
    except ValueError:
        return None
    if ip.version != network.version or ip not in network:
        return None
    first = int(network.network_address) + 2  # past the network address and the gateway
    last = int(network.broadcast_address) - (1 if network.num_addresses > 2 else 0)
    nxt = int(ip) + 1
    if not first <= nxt <= last:
        return None
    return str(ipaddress.ip_address(nxt))


def _first_free(
    network: ipaddress.IPv4Network | ipaddress.IPv6Network, used: set[str]
) -> str | None:
    # The first host address is the gateway, as on a Neutron provider subnet.
    hosts = network.hosts()
    next(hosts, None)
    for ip in hosts:
        text = str(ip)
        if text not in used:
            return text
    return None


def _random_free(
    network: ipaddress.IPv4Network | ipaddress.IPv6Network, used: set[str]
) -> str | None:
    size = min(network.num_addresses, 1 << 24)
    if size < 4:
        return _first_free(network, used)
    base = int(network.network_address)
    for _ in range(64):
        # Skip the network address, the gateway (first host) and the broadcast address.
        text = str(ipaddress.ip_address(base + random.randrange(2, size - 1)))
        if text not in used:
            return text
    return _first_free(network, used)


async def release_addresses(session: AsyncSession, instance_uuid: str) -> int:
    """Free every address of the instance (idempotent)."""
    stmt = delete(AddressAllocation).where(AddressAllocation.instance_uuid == instance_uuid)
    return await execute_count(session, stmt.execution_options(synchronize_session=False))


DRIVER_METADATA_KEYS = frozenset({"ssh_endpoint"})
"""Server metadata keys a compute driver may set (its own view of the guest)."""


def apply_driver_view(inst: Instance, result: contract.OpResult) -> None:
    """Merge an op result's driver view into the instance (spawn and rebuild results).

    ``ssh_endpoint`` goes into the server's metadata (``openstack server show`` lists it
    under properties); driver addresses are added next to the provider-network ones,
    which stay as allocated. Other metadata keys from a driver are ignored: the user
    owns the rest of the metadata.
    """
    metadata = result.metadata
    if metadata:
        wanted = {
            str(k): str(v) for k, v in metadata.items() if str(k) in DRIVER_METADATA_KEYS and v
        }
        current = dict(inst.metadata_ or {})
        if any(current.get(k) != v for k, v in wanted.items()):
            # A new dict: the JSON column only notices reassignment.
            inst.metadata_ = {**current, **wanted}
    addresses = result.addresses
    if addresses:
        current_addrs = dict(inst.addresses or {})
        merged = dict(current_addrs)
        for net, entries in addresses.items():
            if str(net) == NETWORK_NAME or not isinstance(entries, list):
                continue  # the provider network is ours, not the driver's
            merged[str(net)] = [dict(e) for e in entries if isinstance(e, dict)]
        if merged != current_addrs:
            inst.addresses = merged
