"""Host device names of ports and networks (at most 15 characters, Linux's IFNAMSIZ - 1)."""

from __future__ import annotations

TAP_PREFIX = "tap"
BRIDGE_PREFIX = "sybr"


def tap_name(port_id: str) -> str:
    """The tap of a port: ``tap`` + the first 11 characters of its id, as Nova names it."""
    return TAP_PREFIX + port_id[:11]


def bridge_name(network_id: str) -> str:
    """The bridge of a network: ``sybr`` + the first 11 characters of its id."""
    return BRIDGE_PREFIX + network_id[:11]
