"""Security group rules of a port as nftables text (rendering only; :mod:`.host` runs it).

One table, ``bridge stockyard``, filters frames between the ports of the host's bridges:

- base chain ``forward`` jumps, by the frame's input tap, to the port's egress chain
  ``e-<tap>`` (verdict maps ``egress``/``ingress``), then by its output tap to the port's
  ingress chain ``i-<tap>``; a port absent from the maps (port security off) is not
  filtered. Base chain ``input`` drops what guests send to the host itself (set ``ports``).
- egress: anti-spoofing first (the port's MAC; its fixed IPs in IP, ARP and IPv6 source,
  IPv6 link-local too; no DHCP server or router advertisement from a guest), then flows
  already allowed, then the egress rules, else drop.
- ingress: ARP, neighbour discovery and ICMP errors, then flows already allowed, then the
  ingress rules, else drop (Neutron's default-deny).

State: this kernel kind has no bridge conntrack (``CONFIG_NF_CONNTRACK_BRIDGE`` is off),
so allowed flows are kept in per-port dynamic sets instead: a frame a rule allows records
its reverse (addresses, protocol, ports; ICMP echo id) in ``est4/est6/ping4/ping6-<tap>``
with a timeout, and frames matching a recorded flow pass both ways (Neutron's "established").
Updating a port's rules flushes its flows, as Neutron deletes a port's conntrack entries.

Every port update is one ``nft -f`` transaction: the port's chains are flushed and refilled
in it, so the kernel applies all of it or nothing and a port is never left open half-way.
"""

from __future__ import annotations

import ipaddress

from stockyard.bus.contract import PortSpec, SecurityRuleSpec
from stockyard.compute.netdp.names import tap_name

FAMILY = "bridge"
TABLE = "stockyard"
FLOW_TIMEOUT = "1h"
PING_TIMEOUT = "60s"
_T = f"{FAMILY} {TABLE}"

_PROTOCOLS = {
    "tcp": "tcp",
    "6": "tcp",
    "udp": "udp",
    "17": "udp",
    "sctp": "sctp",
    "132": "sctp",
    "udplite": "udplite",
    "136": "udplite",
    "icmp": "icmp",
    "1": "icmp",
    "ipv6-icmp": "ipv6-icmp",
    "icmpv6": "ipv6-icmp",
    "58": "ipv6-icmp",
}
_PORT_PROTOCOLS = {"tcp", "udp", "sctp", "udplite"}
_ND_TYPES = (
    "nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit, "
    "mld-listener-report, mld2-listener-report"
)
_ICMP4_ERRORS = "destination-unreachable, time-exceeded, parameter-problem"
_ICMP6_ERRORS = "destination-unreachable, packet-too-big, time-exceeded, parameter-problem"


def table_skeleton() -> list[str]:
    """The table, its maps and base chains, rebuilt identically by every transaction
    (``add`` of what exists is a no-op; the base chains are flushed and refilled)."""
    return [
        f"add table {_T}",
        f"add map {_T} egress {{ type ifname : verdict; }}",
        f"add map {_T} ingress {{ type ifname : verdict; }}",
        f"add set {_T} ports {{ type ifname; }}",
        f"add chain {_T} forward {{ type filter hook forward priority 0; policy accept; }}",
        f"add chain {_T} input {{ type filter hook input priority 0; policy accept; }}",
        f"flush chain {_T} forward",
        f"flush chain {_T} input",
        f"add rule {_T} forward iifname vmap @egress",
        f"add rule {_T} forward oifname vmap @ingress",
        f"add rule {_T} input iifname @ports drop",
    ]


def _chains(tap: str) -> dict[str, str]:
    return {"egress": f"e-{tap}", "ingress": f"i-{tap}", "record": f"r-{tap}", "ok": f"ok-{tap}"}


def _sets(tap: str) -> dict[str, str]:
    return {
        f"est4-{tap}": (
            "typeof ip saddr . ip daddr . meta l4proto . th sport . th dport; "
            f"flags dynamic,timeout; timeout {FLOW_TIMEOUT};"
        ),
        f"est6-{tap}": (
            "typeof ip6 saddr . ip6 daddr . meta l4proto . th sport . th dport; "
            f"flags dynamic,timeout; timeout {FLOW_TIMEOUT};"
        ),
        f"ping4-{tap}": (
            f"typeof ip saddr . ip daddr . icmp id; flags dynamic,timeout; timeout {PING_TIMEOUT};"
        ),
        f"ping6-{tap}": (
            "typeof ip6 saddr . ip6 daddr . icmpv6 id; "
            f"flags dynamic,timeout; timeout {PING_TIMEOUT};"
        ),
    }


def _declare(tap: str) -> list[str]:
    """Statements making the port's chains and sets exist (``add``: no-op when present)."""
    lines = [f"add chain {_T} {name}" for name in _chains(tap).values()]
    lines += [f"add set {_T} {name} {{ {body} }}" for name, body in _sets(tap).items()]
    return lines


def _addresses(port: PortSpec, version: int) -> list[str]:
    return [ip.ip_address for ip in port.fixed_ips if ip.version == version]


def _set(items: list[str]) -> str:
    return "{ " + ", ".join(items) + " }"


def _protocol(rule: SecurityRuleSpec) -> str | None:
    """nft's name for the rule's protocol (``None``: any); numbers pass through."""
    if rule.protocol is None or rule.protocol.lower() in {"", "any", "0"}:
        return None
    proto = _PROTOCOLS.get(rule.protocol.lower(), rule.protocol.lower())
    # Neutron accepts "icmp" on an IPv6 rule and means ICMPv6.
    if rule.ethertype == "IPv6" and proto == "icmp":
        proto = "ipv6-icmp"
    if not (proto.isdigit() or proto in _PROTOCOLS.values()):
        raise ValueError(f"unknown protocol {rule.protocol!r}")
    return proto


def rule_match(rule: SecurityRuleSpec) -> str | None:
    """The nft match of one rule, or ``None`` when it can match nothing.

    Rules of an egress chain see the guest as source, so the remote side is the
    destination; ingress the other way round. A remote group without members (an empty
    ``remote_ips``) matches nobody, as in Neutron.
    """
    v6 = rule.ethertype == "IPv6"
    fam = "ip6" if v6 else "ip"
    side = "daddr" if rule.direction == "egress" else "saddr"
    parts = ["meta protocol " + fam]
    if rule.remote_ips is not None:
        nets = []
        for raw in rule.remote_ips:
            net = ipaddress.ip_network(raw, strict=False)
            if net.version == (6 if v6 else 4):
                nets.append(str(net.network_address) if net.num_addresses == 1 else str(net))
        if not nets:
            return None
        parts.append(f"{fam} {side} {_set(sorted(set(nets)))}")
    proto = _protocol(rule)
    if proto is not None:
        parts.append(f"meta l4proto {proto}")
        lo, hi = rule.port_range_min, rule.port_range_max
        if proto in _PORT_PROTOCOLS and lo is not None:
            parts.append(f"th dport {lo}" if hi is None or hi == lo else f"th dport {lo}-{hi}")
        elif proto in {"icmp", "ipv6-icmp"} and lo is not None:
            # Neutron keeps the ICMP type in port_range_min and the code in _max.
            icmp = "icmp" if proto == "icmp" else "icmpv6"
            parts.append(f"{icmp} type {lo}")
            if hi is not None:
                parts.append(f"{icmp} code {hi}")
    return " ".join(parts)


def _egress_guard(port: PortSpec) -> list[str]:
    """Anti-spoofing: what a guest may claim to be."""
    mac = port.mac_address.lower()
    v4 = _addresses(port, 4)
    v6 = _addresses(port, 6)
    lines = [f"ether saddr != {mac} drop"]
    # ARP: the port's MAC, and its IPv4 addresses (0.0.0.0 for duplicate address probes).
    lines.append(f"arp saddr ether != {mac} drop")
    lines.append(f"arp saddr ip != {_set([*v4, '0.0.0.0'])} drop")
    lines.append("meta protocol arp return")
    lines.append(f"ip saddr != {_set(v4)} drop" if v4 else "meta protocol ip drop")
    lines.append(f"ip6 saddr != {_set([*v6, 'fe80::/10', '::'])} drop")
    lines.append("meta protocol != { ip, ip6 } drop")
    # A guest is never a DHCP server nor a router on a Stockyard network.
    lines.append("udp sport { 67, 547 } drop")
    lines.append("icmpv6 type nd-router-advert drop")
    lines.append(f"icmpv6 type {{ {_ND_TYPES} }} return")
    return lines


def _established(tap: str, verdict: str) -> list[str]:
    """Frames of flows the port's rules allowed before (either direction)."""
    return [
        f"meta l4proto {{ tcp, udp, sctp, udplite }} ip saddr . ip daddr . meta l4proto "
        f". th sport . th dport @est4-{tap} {verdict}",
        f"meta l4proto {{ tcp, udp, sctp, udplite }} ip6 saddr . ip6 daddr . meta l4proto "
        f". th sport . th dport @est6-{tap} {verdict}",
        f"icmp type echo-reply ip saddr . ip daddr . icmp id @ping4-{tap} {verdict}",
        f"icmpv6 type echo-reply ip6 saddr . ip6 daddr . icmpv6 id @ping6-{tap} {verdict}",
    ]


def _record(tap: str) -> list[str]:
    """The record chain: remember the reverse of an allowed frame's flow."""
    return [
        f"meta l4proto {{ tcp, udp, sctp, udplite }} update @est4-{tap} "
        "{ ip daddr . ip saddr . meta l4proto . th dport . th sport }",
        f"meta l4proto {{ tcp, udp, sctp, udplite }} update @est6-{tap} "
        "{ ip6 daddr . ip6 saddr . meta l4proto . th dport . th sport }",
        f"icmp type echo-request update @ping4-{tap} {{ ip daddr . ip saddr . icmp id }}",
        f"icmpv6 type echo-request update @ping6-{tap} {{ ip6 daddr . ip6 saddr . icmpv6 id }}",
    ]


def port_rules(port: PortSpec) -> dict[str, list[str]]:
    """The rules of each of the port's chains (by chain name), without the table."""
    tap = tap_name(port.id)
    ch = _chains(tap)
    if not port.admin_state_up:
        return {ch["egress"]: ["drop"], ch["ingress"]: ["drop"], ch["record"]: [], ch["ok"]: []}
    # Egress: an allowed frame goes to the record chain, whose end returns to ``forward``
    # (the destination port's ingress chain comes next). Ingress: record, then accept.
    egress = _egress_guard(port)
    egress += _established(tap, f"goto {ch['record']}")
    ingress = [
        "meta protocol arp accept",
        f"icmpv6 type {{ {_ND_TYPES} }} accept",
        f"icmp type {{ {_ICMP4_ERRORS} }} accept",
        f"icmpv6 type {{ {_ICMP6_ERRORS} }} accept",
    ]
    ingress += _established(tap, f"goto {ch['ok']}")
    for rule in port.security_rules:
        match = rule_match(rule)
        if match is None:
            continue
        if rule.direction == "egress":
            egress.append(f"{match} goto {ch['record']}")
        else:
            ingress.append(f"{match} goto {ch['ok']}")
    egress.append("drop")
    ingress.append("drop")
    return {
        ch["egress"]: egress,
        ch["ingress"]: ingress,
        ch["record"]: _record(tap),
        ch["ok"]: [f"jump {ch['record']}", "accept"],
    }


def _map_elements(tap: str) -> list[tuple[str, str]]:
    ch = _chains(tap)
    return [
        ("egress", f'"{tap}" : jump {ch["egress"]}'),
        ("ingress", f'"{tap}" : jump {ch["ingress"]}'),
    ]


def _unmap(tap: str, keep_host_guard: bool) -> list[str]:
    """Take the port out of the maps; ``add`` first so that ``delete`` never fails."""
    lines = []
    for name, element in _map_elements(tap):
        lines.append(f"add element {_T} {name} {{ {element} }}")
        lines.append(f'delete element {_T} {name} {{ "{tap}" }}')
    if not keep_host_guard:
        lines.append(f'add element {_T} ports {{ "{tap}" }}')
        lines.append(f'delete element {_T} ports {{ "{tap}" }}')
    return lines


def render_port(port: PortSpec) -> str:
    """One transaction that (re)applies ``port``'s filtering, whatever was there before."""
    tap = tap_name(port.id)
    lines = [*table_skeleton(), *_declare(tap)]
    # Out of the maps while the chains are rebuilt (same transaction: no gap is visible).
    lines += _unmap(tap, keep_host_guard=True)
    lines.append(f'add element {_T} ports {{ "{tap}" }}')
    lines += [f"flush chain {_T} {name}" for name in _chains(tap).values()]
    lines += [f"flush set {_T} {name}" for name in _sets(tap)]
    for chain, rules in port_rules(port).items():
        lines += [f"add rule {_T} {chain} {rule}" for rule in rules]
    if port.port_security_enabled or not port.admin_state_up:
        for name, element in _map_elements(tap):
            lines.append(f"add element {_T} {name} {{ {element} }}")
    return "\n".join(lines) + "\n"


def render_remove(tap: str) -> str:
    """One transaction that removes every trace of the port with tap ``tap``."""
    lines = [*table_skeleton(), *_declare(tap)]
    lines += _unmap(tap, keep_host_guard=False)
    chains = _chains(tap)
    lines += [f"flush chain {_T} {name}" for name in chains.values()]
    lines += [f"delete chain {_T} {name}" for name in chains.values()]
    lines += [f"delete set {_T} {name}" for name in _sets(tap)]
    return "\n".join(lines) + "\n"


def render_drop_table() -> str:
    """Remove the whole table (when no port is left on the host)."""
    return f"add table {_T}\ndelete table {_T}\n"
