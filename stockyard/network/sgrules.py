"""Security group rule validation, as Neutron's ``_validate_security_group_rule``."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from stockyard.network.errors import BadRequest, invalid_attr

# Neutron's protocol names (neutron_lib.constants.IP_PROTOCOL_MAP).
PROTOCOLS: dict[str, int] = {
    "ah": 51, "dccp": 33, "egp": 8, "esp": 50, "gre": 47, "hopopt": 0, "icmp": 1,
    "icmpv6": 58, "igmp": 2, "ip": 0, "ipip": 4, "ipv6-encap": 41, "ipv6-frag": 44,
    "ipv6-icmp": 58, "ipv6-nonxt": 59, "ipv6-opts": 60, "ipv6-route": 43, "ospf": 89,
    "pgm": 113, "rsvp": 46, "sctp": 132, "tcp": 6, "udp": 17, "udplite": 136, "vrrp": 112,
}  # fmt: skip
_PORTED = {6, 17, 33, 132, 136}
_ICMP = {1, 58}


@dataclass(frozen=True)
class Rule:
    """A validated rule's matching fields."""

    direction: str
    ethertype: str
    protocol: str | None
    port_range_min: int | None
    port_range_max: int | None
    remote_ip_prefix: str | None
    remote_group_id: str | None

    def fingerprint(self) -> str:
        """Equal for rules Neutron calls duplicates (protocol by number, 0.0.0.0/0 = any)."""
        proto = None if self.protocol is None else str(protocol_number(self.protocol))
        prefix = self.remote_ip_prefix
        if prefix is not None:
            net = ipaddress.ip_network(prefix, strict=False)
            prefix = None if net.prefixlen == 0 else str(net)
        parts = (self.direction, self.ethertype, proto, self.port_range_min,
                 self.port_range_max, prefix, self.remote_group_id)  # fmt: skip
        return "|".join("" if p is None else str(p) for p in parts)


def protocol_number(protocol: str) -> int:
    return PROTOCOLS[protocol] if protocol in PROTOCOLS else int(protocol)


def _protocol(value: Any) -> str | None:
    if value is None or value == "any":
        return None
    text = str(value).lower()
    if text in PROTOCOLS:
        return text
    if text.isdigit() and 0 <= int(text) <= 255:
        return text
    names = ", ".join(["None", *(repr(p) for p in sorted(PROTOCOLS))])
    raise BadRequest(
        f"Security group rule protocol {value} not supported. Only protocol values "
        f"[{names}] and integer representations [0 to 255] are supported.",
        type="SecurityGroupRuleInvalidProtocol",
    )


def _port(value: Any, attr: str) -> int | None:
    if value is None:
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise invalid_attr(attr, f"'{value}' is not an integer") from None
    if isinstance(value, bool) or not 0 <= number <= 65535:
        raise BadRequest(f"Invalid value for port {value}", type="SecurityGroupInvalidPortValue")
    return number


def validate(body: dict[str, Any]) -> Rule:
    """A rule from the request's attributes, or Neutron's 400."""
    direction = body.get("direction")
    if direction not in ("ingress", "egress"):
        raise invalid_attr("direction", f"{direction!r} is not in ['ingress', 'egress']")
    ethertype = body.get("ethertype", "IPv4") or "IPv4"
    ethertype = {"ipv4": "IPv4", "ipv6": "IPv6"}.get(str(ethertype).lower(), ethertype)
    if ethertype not in ("IPv4", "IPv6"):
        raise BadRequest(
            f"Security group rule for ethertype '{ethertype}' not supported. "
            "Allowed values are ['IPv4', 'IPv6'].",
            type="SecurityGroupRuleInvalidEtherType",
        )
    protocol = _protocol(body.get("protocol"))
    low = _port(body.get("port_range_min"), "port_range_min")
    high = _port(body.get("port_range_max"), "port_range_max")
    number = None if protocol is None else protocol_number(protocol)
    if number == 58 and ethertype == "IPv4":
        raise BadRequest(
            f"Invalid ethertype {ethertype} for protocol {protocol}.",
            type="SecurityGroupEthertypeConflictWithProtocol",
        )
    if (low is not None or high is not None) and number is None:
        raise BadRequest(
            "Must also specify protocol if port range is given.",
            type="SecurityGroupProtocolRequiredWithPorts",
        )
    if number in _PORTED and (low is not None or high is not None):
        if low == 0 or high == 0:
            raise BadRequest("Invalid value for port 0", type="SecurityGroupInvalidPortValue")
        # Neutron wants both ends, in order.
        if low is None or high is None or low > high:
            raise BadRequest(
                "For TCP/UDP protocols, port_range_min must be <= port_range_max",
                type="SecurityGroupInvalidPortRange",
            )
    elif number in _ICMP:
        for field, attr, value in (
            ("type", "port-range-min", low),
            ("code", "port-range-max", high),
        ):
            if value is not None and value > 255:
                raise BadRequest(
                    f"Invalid value for ICMP {field} ({attr}) {value}. It must be 0 to 255.",
                    type="SecurityGroupInvalidIcmpValue",
                )
        if low is None and high is not None:
            raise BadRequest(
                f"ICMP code (port-range-max) {high} is provided but ICMP type "
                "(port-range-min) is missing.",
                type="SecurityGroupMissingIcmpType",
            )
    elif low is not None or high is not None:
        raise BadRequest(
            f"Invalid protocol {protocol} for port range, only supported for TCP, UDP, "
            "UDPLITE, SCTP and DCCP.",
            type="SecurityGroupInvalidProtocolForPortRange",
        )
    prefix = body.get("remote_ip_prefix")
    group = body.get("remote_group_id")
    if prefix is not None and group is not None:
        raise BadRequest(
            "Only remote_ip_prefix or remote_group_id may be provided.",
            type="SecurityGroupRemoteGroupAndRemoteIpPrefix",
        )
    if prefix is not None:
        try:
            net = ipaddress.ip_network(str(prefix), strict=False)
        except ValueError:
            raise invalid_attr("remote_ip_prefix", f"'{prefix}' is not a valid IP subnet") from None
        if f"IPv{net.version}" != ethertype:
            raise BadRequest(
                f"Conflicting value ethertype {ethertype} for CIDR {prefix}",
                type="SecurityGroupRuleParameterConflict",
            )
        prefix = str(prefix) if "/" in str(prefix) else str(net)
    return Rule(direction, ethertype, protocol, low, high, prefix, group)
