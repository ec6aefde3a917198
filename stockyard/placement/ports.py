"""The placement flow's network steps: bind the server's ports when it is placed, and
merge what a driver reports of the guest (spawn and rebuild results)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.bus import contract
from stockyard.db.models import Host, Instance
from stockyard.network import server_ports

BindFailed = server_ports.BindFailed
PortQuotaExceeded = server_ports.PortQuotaExceeded


async def bind_ports(s: AsyncSession, inst: Instance, host: Host, az: str) -> None:
    """Create and bind the server's ports on ``host`` (in the claim's transaction).

    Idempotent per instance; a baremetal node's ports carry its NICs' MACs. Raises
    :class:`BindFailed` (nothing left behind) when a port cannot be made.
    """
    if inst.requested_networks == []:  # ``networks: "none"``: no port, no address
        inst.addresses = {}
        inst.network_info = []
        return
    macs = [str(m) for m in host.macs or []] if host.kind == "baremetal" else None
    await server_ports.bind(s, inst, host=host.name, region=host.region, az=az, macs=macs)


async def announce_ports(s: AsyncSession, inst: Instance) -> None:
    """The server is running: peers with remote-group rules on its groups learn its
    addresses (their hosts get ``update_ports`` from the conductor's port sync)."""
    if inst.requested_networks != []:
        await server_ports.announce(s, inst)


async def release_ports(s: AsyncSession, inst: Instance) -> None:
    """The server's own ports go, the user's stay (unbound): Nova's preserve-on-delete."""
    await server_ports.release(s, inst)


DRIVER_METADATA_KEYS = frozenset({"ssh_endpoint"})
"""Server metadata keys a compute driver may set (its own view of the guest)."""


def apply_driver_view(inst: Instance, result: contract.OpResult) -> None:
    """Merge an op result's driver view into the instance (spawn and rebuild results).

    ``ssh_endpoint`` goes into the server's metadata (``openstack server show`` lists it
    under properties); driver addresses (libvirt's user-mode management NIC) are added
    next to the ports' ones, which stay as IPAM allocated them. Other metadata keys from
    a driver are ignored: the user owns the rest of the metadata.
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
        ours = {str(p.get("network_name") or p.get("network_id")) for p in inst.network_info or []}
        current_addrs = dict(inst.addresses or {})
        merged = dict(current_addrs)
        for net, entries in addresses.items():
            if str(net) in ours or not isinstance(entries, list):
                continue  # the ports' networks are IPAM's, not the driver's
            merged[str(net)] = [dict(e) for e in entries if isinstance(e, dict)]
        if merged != current_addrs:
            inst.addresses = merged
