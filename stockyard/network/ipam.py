"""IPAM: the one source of fixed IP addresses.

Every address a port holds is an ``ip_allocations`` row, and the unique constraint on
(network_id, ip_address) is the arbiter: two transactions that pick the same address
cannot both commit. Each insert runs in a savepoint, so losing the race costs one
savepoint, not the caller's transaction: a requested address then fails with
``IpAddressAlreadyAllocated``, an automatic one moves on to another free address.

The candidate scan reads the subnet's current allocations and walks its pools from the
start, so a quiet subnet hands out .2, .3, ... in order; after a lost race the next pick
is random among the first free candidates, so many concurrent creates spread out instead
of queueing on one address.
"""

from __future__ import annotations

import ipaddress
import random
import socket
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, event, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from stockyard.db.models import IPAllocation, Subnet
from stockyard.network.addressing import IPAddress, Pool, to_ip
from stockyard.network.errors import (
    BadRequest,
    InvalidInput,
    ip_already_allocated,
    ip_generation_failure,
)

# Automatic picks retried after lost races before giving up on a subnet.
MAX_ATTEMPTS = 64
# How many free candidates a retry chooses among.
WINDOW = 32
# session.info key of the per-transaction allocated-address sets (see ``_taken``).
_TAKEN = "stockyard.ipam.taken"


@dataclass(frozen=True)
class FixedIP:
    """One entry of a port's ``fixed_ips`` request: a subnet, an address, or both."""

    subnet_id: str | None = None
    ip_address: str | None = None


def _pools(subnet: Subnet) -> list[Pool]:
    version = subnet.ip_version
    return [
        Pool(int(ipaddress.ip_address(p["start"])), int(ipaddress.ip_address(p["end"])), version)
        for p in subnet.allocation_pools
    ]


def is_slaac(subnet: Subnet) -> bool:
    """Addresses of this subnet are the guests' own EUI-64 ones, not picked from pools."""
    return subnet.ip_version == 6 and subnet.ipv6_address_mode in ("slaac", "dhcpv6-stateless")


def eui64(subnet: Subnet, mac: str) -> IPAddress:
    """The modified EUI-64 address a guest with ``mac`` configures on ``subnet``."""
    octets = [int(part, 16) for part in mac.split(":")]
    octets[0] ^= 0x02
    iid = [*octets[:3], 0xFF, 0xFE, *octets[3:]]
    net = ipaddress.ip_network(subnet.cidr)
    return ipaddress.IPv6Address(int(net.network_address) | int.from_bytes(bytes(iid), "big"))


def _forget_taken(session: Session) -> None:
    session.info.pop(_TAKEN, None)


# The sets live as long as the transaction: after its end others' changes count.
event.listen(Session, "after_commit", _forget_taken)
event.listen(Session, "after_rollback", _forget_taken)


def _ip_int(ip: str) -> int:
    # inet_pton is ~10x cheaper than ipaddress for the same integer (stored text is valid).
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    return int.from_bytes(socket.inet_pton(family, ip), "big")


class _Taken(set[int]):
    """A subnet's allocated addresses, and where the first-free search of each pool
    (by index) resumes: below it, every address of that pool is taken. Valid because
    the set only grows while it is cached (``release`` drops it): without the resume
    points, every allocation of a burst scanned from the pool's start, past all the
    addresses handed out before it."""

    def __init__(self, values: Iterable[int]) -> None:
        super().__init__(values)
        self.resume: dict[int, int] = {}


async def _taken(session: AsyncSession, subnet_id: str, *, fresh: bool = False) -> _Taken:
    """The subnet's allocated addresses, read once per transaction.

    A burst addresses hundreds of ports in one transaction: re-reading the subnet for
    each one made the burst quadratic. The set follows this transaction's own inserts
    (``_insert``) and is dropped by ``release``; what other transactions take meanwhile
    is caught by the unique constraint, after which the retry reads afresh.
    """
    cache: dict[str, _Taken] = session.info.setdefault(_TAKEN, {})
    taken = None if fresh else cache.get(subnet_id)
    if taken is None:
        rows = await session.scalars(
            select(IPAllocation.ip_address).where(IPAllocation.subnet_id == subnet_id)
        )
        taken = cache[subnet_id] = _Taken(_ip_int(ip) for ip in rows)
    return taken


def _candidates(subnet: Subnet, taken: _Taken, limit: int) -> list[int]:
    """Up to ``limit`` free addresses, lowest first, pool by pool."""
    found: list[int] = []
    for index, pool in enumerate(_pools(subnet)):
        value = max(pool.first, taken.resume.get(index, pool.first))
        first_free: int | None = None
        while value <= pool.last and len(found) < limit:
            if value not in taken:
                found.append(value)
                first_free = value if first_free is None else first_free
            value += 1
        # Below this, every address of the pool is taken.
        taken.resume[index] = value if first_free is None else first_free
        if len(found) >= limit:
            break
    return found


async def _insert(session: AsyncSession, port_id: str, subnet: Subnet, ip: str) -> bool:
    """Insert one allocation in a savepoint; False when another holder has the address."""
    try:
        async with session.begin_nested():
            session.add(
                IPAllocation(
                    port_id=port_id,
                    subnet_id=subnet.id,
                    network_id=subnet.network_id,
                    ip_address=ip,
                )
            )
    except IntegrityError:
        return False
    taken = session.info.get(_TAKEN, {}).get(subnet.id)
    if taken is not None:
        taken.add(_ip_int(ip))
    return True


async def allocate_specific(
    session: AsyncSession, port_id: str, subnet: Subnet, address: IPAddress
) -> str:
    """Allocate ``address`` of ``subnet`` to the port, or 409 IpAddressAlreadyAllocated."""
    net = ipaddress.ip_network(subnet.cidr)
    ip = str(address)
    if address.version != net.version or address not in net:
        raise BadRequest(
            f"IP address {ip} is not a valid IP for the specified subnet.",
            type="InvalidIpForSubnet",
        )
    if net.version == 4 and net.prefixlen < 31:
        if address in (net.network_address, net.broadcast_address):
            raise BadRequest(
                f"IP address {ip} is not a valid IP for the specified subnet.",
                type="InvalidIpForSubnet",
            )
    if subnet.gateway_ip == ip:
        raise ip_already_allocated(ip, subnet.id)
    taken = await session.scalar(
        select(IPAllocation.id).where(
            IPAllocation.network_id == subnet.network_id, IPAllocation.ip_address == ip
        )
    )
    if taken is not None or not await _insert(session, port_id, subnet, ip):
        raise ip_already_allocated(ip, subnet.id)
    return ip


async def allocate_any(session: AsyncSession, port_id: str, subnet: Subnet) -> str | None:
    """A free address of ``subnet`` for the port; None when the subnet is full."""
    for attempt in range(MAX_ATTEMPTS):
        taken = await _taken(session, subnet.id, fresh=attempt > 0)
        found = _candidates(subnet, taken, 1 if attempt == 0 else WINDOW)
        if not found:
            return None
        ip = str(to_ip(found[0] if attempt == 0 else random.choice(found), subnet.ip_version))
        if await _insert(session, port_id, subnet, ip):
            return ip
    return None


async def allocate(
    session: AsyncSession,
    port_id: str,
    network_id: str,
    subnets: list[Subnet],
    requests: list[FixedIP] | None,
    mac: str,
) -> list[tuple[str, str]]:
    """Allocate the port's fixed IPs; returns (subnet_id, ip) pairs.

    ``requests`` None means automatic: one address from the first IPv4 subnet with room,
    one from the first stateful IPv6 subnet with room, and the EUI-64 address (from
    ``mac``) on every SLAAC subnet (no subnets: no addresses). Otherwise each entry is
    honoured as Neutron does, or the whole call fails.
    """
    by_id = {s.id: s for s in subnets}
    done: list[tuple[str, str]] = []
    if requests is None:
        for version in (4, 6):
            candidates = [s for s in subnets if s.ip_version == version and not is_slaac(s)]
            for candidate in candidates:
                ip = await allocate_any(session, port_id, candidate)
                if ip is not None:
                    done.append((candidate.id, ip))
                    break
            else:
                if candidates:
                    raise ip_generation_failure(network_id)
        for auto in [s for s in subnets if is_slaac(s)]:
            done.append(
                (auto.id, await allocate_specific(session, port_id, auto, eui64(auto, mac)))
            )
        return done
    for req in requests:
        subnet: Subnet | None
        address = ipaddress.ip_address(req.ip_address) if req.ip_address else None
        if req.subnet_id is not None:
            subnet = by_id.get(req.subnet_id)
            if subnet is None:
                raise InvalidInput(
                    f"Failed to create port on network {network_id}, because fixed_ips "
                    f"included invalid subnet {req.subnet_id}"
                )
        elif address is not None:
            subnet = next((s for s in subnets if address in ipaddress.ip_network(s.cidr)), None)
            if subnet is None:
                raise BadRequest(
                    f"IP address {address} is not a valid IP for any of the subnets on the "
                    "specified network.",
                    type="InvalidIpForNetwork",
                )
        else:
            raise InvalidInput("Exceeded maximum amount of fixed ips per port.")
        assert subnet is not None
        if is_slaac(subnet):
            if address is not None and address != eui64(subnet, mac):
                raise InvalidInput(
                    f"IPv6 address {address} cannot be directly assigned to a port on subnet "
                    f"{subnet.id} as the subnet is configured for automatic addresses"
                )
            address = eui64(subnet, mac)
        if address is not None:
            done.append((subnet.id, await allocate_specific(session, port_id, subnet, address)))
        else:
            ip = await allocate_any(session, port_id, subnet)
            if ip is None:
                raise ip_generation_failure(network_id)
            done.append((subnet.id, ip))
    return done


async def follow_mac(session: AsyncSession, port_id: str, mac: str) -> None:
    """The port's SLAAC addresses follow its new ``mac`` (EUI-64), as Neutron re-derives
    them when a port's MAC changes; its other addresses stay."""
    rows = list(await session.scalars(select(IPAllocation).where(IPAllocation.port_id == port_id)))
    if not rows:
        return
    subnets = {
        s.id: s
        for s in await session.scalars(
            select(Subnet).where(Subnet.id.in_({r.subnet_id for r in rows}))
        )
    }
    for row in rows:
        subnet = subnets.get(row.subnet_id)
        if subnet is not None and is_slaac(subnet):
            row.ip_address = str(eui64(subnet, mac))


async def release(
    session: AsyncSession, port_id: str, keep: set[tuple[str, str]] | None = None
) -> None:
    """Free the port's addresses, except the (subnet_id, ip) pairs in ``keep``."""
    rows = await session.scalars(select(IPAllocation).where(IPAllocation.port_id == port_id))
    session.info.pop(_TAKEN, None)
    for row in rows:
        if keep is None or (row.subnet_id, row.ip_address) not in keep:
            await session.execute(delete(IPAllocation).where(IPAllocation.id == row.id))


async def port_addresses(
    session: AsyncSession, port_ids: list[str]
) -> dict[str, list[dict[str, str]]]:
    """``fixed_ips`` of each port, in allocation order."""
    out: dict[str, list[dict[str, str]]] = {pid: [] for pid in port_ids}
    if not port_ids:
        return out
    rows = await session.scalars(
        select(IPAllocation).where(IPAllocation.port_id.in_(port_ids)).order_by(IPAllocation.id)
    )
    for row in rows:
        out[row.port_id].append({"subnet_id": row.subnet_id, "ip_address": row.ip_address})
    return out
