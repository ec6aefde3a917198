"""The datapath of a libvirt host: what makes a Networking v2 port real on the host.

- a Linux bridge per network, named ``sybr<network id prefix>`` (a stockyard prefix, no
  address on it: the host takes no part in tenant networks), see :mod:`.host`;
- a tap per port, named ``tap<port id prefix>`` as Nova names it, plugged into its
  network's bridge and handed to libvirt as ``<interface type='ethernet'>``;
- security group rules per port in one nftables table (``bridge stockyard``), replaced
  per port in one ``nft -f`` transaction, see :mod:`.nftables`;
- guest addresses from the config drive's ``network_data.json``, see :mod:`.netdata`.
"""

from __future__ import annotations

from stockyard.compute.netdp.host import Datapath, DatapathError
from stockyard.compute.netdp.names import bridge_name, tap_name

__all__ = ["Datapath", "DatapathError", "bridge_name", "tap_name"]
