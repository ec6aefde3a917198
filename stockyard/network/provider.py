"""Each region's flat provider network: a real Networking v2 network with one subnet.

Servers that ask for no particular network (``networks: "auto"`` in a project with no
network of its own, or an API older than 2.37) get their port on the provider network of
the region they are placed in. The network is flat on the physical network named after
the region, shared, and owned by no project; its subnet is the region's ``cidr``.

Creation is idempotent and race-free: the network's ``segment_key`` (``flat:<region>``)
is unique, so two enrolments (or a lazy creation at placement time) that race both end
with the one row; a network an admin created on that physnet is adopted as it is.
"""

from __future__ import annotations

import ipaddress

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.db.models import Network, Region, Subnet
from stockyard.db.project_lock import lock_project
from stockyard.network.addressing import default_gateway, default_pools

NETWORK_NAME = "provider"
DEFAULT_CIDR = "10.0.0.0/16"
PROVIDER_PROJECT = ""
"""Provider networks belong to the cloud, not to a project (admin-created in Neutron)."""


async def _has_subnet(session: AsyncSession, network_id: str) -> bool:
    found = await session.scalar(select(Subnet.id).where(Subnet.network_id == network_id))
    return found is not None


def physnet_of(region: str) -> str:
    """The physical network name of ``region``'s flat provider network."""
    return region


def segment_key(region: str) -> str:
    return f"flat:{physnet_of(region)}"


async def find(session: AsyncSession, region: str) -> Network | None:
    """The provider network of ``region``, if it exists."""
    return await session.scalar(select(Network).where(Network.segment_key == segment_key(region)))


async def provider_segment_keys(session: AsyncSession) -> set[str]:
    """The segment key of every region's provider network."""
    return {segment_key(r) for r in await session.scalars(select(Region.id))}


async def ensure(session: AsyncSession, region: str, cidr: str | None = None) -> Network:
    """The provider network of ``region`` with a subnet of ``cidr``, created if missing.

    ``cidr`` None: the region row's (or the default when the region has no row). An
    existing network is returned as it is; it gets a subnet only if it has none.
    """
    # Every placement on the provider network passes here: one query when it is ready.
    ready = await session.scalar(
        select(Network).where(
            Network.segment_key == segment_key(region),
            select(Subnet.id).where(Subnet.network_id == Network.id).exists(),
        )
    )
    if ready is not None:
        return ready
    # Creating: one creator per region at a time (enrolment and placement may race),
    # so the network does not end with two subnets.
    await lock_project(session, f"physnet:{region}"[:64])
    net = await find(session, region)
    if cidr is None:
        row = await session.get(Region, region)
        cidr = row.cidr if row is not None else DEFAULT_CIDR
    if net is None:
        net = Network(
            project_id=PROVIDER_PROJECT,
            name=NETWORK_NAME,
            description=f"Flat provider network of region {region}",
            shared=True,
            network_type="flat",
            physical_network=physnet_of(region),
            segment_key=segment_key(region),
        )
        try:
            async with session.begin_nested():
                session.add(net)
        except IntegrityError:
            # Another enrolment created it first: take theirs.
            net = await find(session, region)
            assert net is not None, "the unique segment key names an existing network"
    if not await _has_subnet(session, net.id):
        network = ipaddress.ip_network(cidr, strict=False)
        gateway = default_gateway(network)
        session.add(
            Subnet(
                network_id=net.id,
                project_id=PROVIDER_PROJECT,
                name=f"{NETWORK_NAME}-{region}",
                ip_version=network.version,
                cidr=str(network),
                gateway_ip=gateway,
                allocation_pools=[p.render() for p in default_pools(network, gateway)],
            )
        )
        await session.flush()
    return net
