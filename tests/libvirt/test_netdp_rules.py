"""Security group rules of a port rendered as nftables text (no host needed)."""

from __future__ import annotations

import pytest

from stockyard.bus.contract import PortSpec, SecurityRuleSpec
from stockyard.compute.netdp import nftables, tap_name

PORT_ID = "5f0c3a9e-1b2c-4d5e-8f90-0123456789ab"
TAP = "tap5f0c3a9e-1b"


def _port(**overrides: object) -> PortSpec:
    data: dict[str, object] = {
        "id": PORT_ID,
        "network_id": "net-1",
        "mac_address": "FA:16:3E:12:34:56",
        "fixed_ips": [
            {"subnet_id": "s4", "ip_address": "10.0.0.5", "cidr": "10.0.0.0/24"},
            {"subnet_id": "s6", "ip_address": "fd00::5", "cidr": "fd00::/64", "version": 6},
        ],
    }
    data.update(overrides)
    return PortSpec.model_validate(data)


def _rule(**kw: object) -> SecurityRuleSpec:
    return SecurityRuleSpec.model_validate(kw)


def test_tap_is_named_as_nova_names_it() -> None:
    assert tap_name(PORT_ID) == TAP
    assert len(TAP) <= 15


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"direction": "ingress"}, "meta protocol ip"),
        ({"direction": "egress", "ethertype": "IPv6"}, "meta protocol ip6"),
        (
            {"direction": "ingress", "protocol": "tcp", "port_range_min": 22, "port_range_max": 22},
            "meta protocol ip meta l4proto tcp th dport 22",
        ),
        (
            {
                "direction": "ingress",
                "protocol": "udp",
                "port_range_min": 1000,
                "port_range_max": 2000,
            },
            "meta protocol ip meta l4proto udp th dport 1000-2000",
        ),
        (
            {"direction": "ingress", "protocol": "icmp", "port_range_min": 8, "port_range_max": 0},
            "meta protocol ip meta l4proto icmp icmp type 8 icmp code 0",
        ),
        (  # Neutron's "icmp" on an IPv6 rule is ICMPv6
            {"direction": "ingress", "ethertype": "IPv6", "protocol": "icmp"},
            "meta protocol ip6 meta l4proto ipv6-icmp",
        ),
        ({"direction": "ingress", "protocol": "47"}, "meta protocol ip meta l4proto 47"),
        (  # remote side: source of ingress, only the rule's own family, hosts as addresses
            {"direction": "ingress", "remote_ips": ["10.1.0.0/16", "10.0.0.7/32", "fd00::9"]},
            "meta protocol ip ip saddr { 10.0.0.7, 10.1.0.0/16 }",
        ),
        (
            {"direction": "egress", "protocol": "tcp", "remote_ips": ["192.0.2.1"]},
            "meta protocol ip ip daddr { 192.0.2.1 } meta l4proto tcp",
        ),
    ],
)
def test_rule_match(rule: dict[str, object], expected: str) -> None:
    assert nftables.rule_match(_rule(**rule)) == expected


def test_a_remote_group_without_members_matches_nobody() -> None:
    assert nftables.rule_match(_rule(direction="ingress", remote_ips=[])) is None
    # Members of the other family only: nobody of this rule's family either.
    assert nftables.rule_match(_rule(direction="ingress", remote_ips=["fd00::1"])) is None


def test_unknown_protocol_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown protocol 'bogus'"):
        nftables.rule_match(_rule(direction="ingress", protocol="bogus"))


def test_port_chains_default_deny_with_anti_spoofing() -> None:
    port = _port(security_rules=[{"direction": "ingress", "protocol": "icmp"}])
    chains = nftables.port_rules(port)
    egress, ingress = chains[f"e-{TAP}"], chains[f"i-{TAP}"]
    assert egress[0] == "ether saddr != fa:16:3e:12:34:56 drop"
    assert "ip saddr != { 10.0.0.5 } drop" in egress
    assert "ip6 saddr != { fd00::5, fe80::/10, :: } drop" in egress
    assert "arp saddr ip != { 10.0.0.5, 0.0.0.0 } drop" in egress
    # No egress rule: everything the guest sends (beyond ARP/ND and replies) is dropped.
    assert egress[-1] == "drop"
    assert not any(line.startswith("meta protocol ip goto") for line in egress)
    assert f"meta protocol ip meta l4proto icmp goto ok-{TAP}" in ingress
    assert ingress[-1] == "drop"
    assert chains[f"ok-{TAP}"] == [f"jump r-{TAP}", "accept"]


def test_port_without_ipv4_sends_no_ipv4() -> None:
    port = _port(fixed_ips=[])
    assert "meta protocol ip drop" in nftables.port_rules(port)[f"e-{TAP}"]


def test_admin_down_port_drops_everything() -> None:
    chains = nftables.port_rules(_port(admin_state_up=False))
    assert chains[f"e-{TAP}"] == ["drop"]
    assert chains[f"i-{TAP}"] == ["drop"]


def test_render_port_is_one_replacing_transaction() -> None:
    text = nftables.render_port(_port(security_rules=[{"direction": "egress"}]))
    lines = text.splitlines()
    # The port's chains are flushed before being refilled, in the same text (one nft -f).
    assert lines.index(f"flush chain bridge stockyard e-{TAP}") < lines.index(
        f"add rule bridge stockyard e-{TAP} ether saddr != fa:16:3e:12:34:56 drop"
    )
    assert f'add element bridge stockyard egress {{ "{TAP}" : jump e-{TAP} }}' == lines[-2]
    assert f'add element bridge stockyard ingress {{ "{TAP}" : jump i-{TAP} }}' == lines[-1]
    # Flows allowed under the old rules are forgotten.
    assert f"flush set bridge stockyard ping4-{TAP}" in lines


def test_port_security_disabled_is_not_filtered() -> None:
    text = nftables.render_port(_port(port_security_enabled=False))
    # Taken out of the dispatch maps (added first only so that the delete cannot fail).
    last = [line for line in text.splitlines() if f'egress {{ "{TAP}"' in line][-1]
    assert last == f'delete element bridge stockyard egress {{ "{TAP}" }}'
    # It is still kept away from the host itself.
    assert f'add element bridge stockyard ports {{ "{TAP}" }}' in text


def test_render_remove_deletes_chains_sets_and_elements() -> None:
    text = nftables.render_remove(TAP)
    for name in (f"e-{TAP}", f"i-{TAP}", f"r-{TAP}", f"ok-{TAP}"):
        assert f"delete chain bridge stockyard {name}" in text
    for name in (f"est4-{TAP}", f"est6-{TAP}", f"ping4-{TAP}", f"ping6-{TAP}"):
        assert f"delete set bridge stockyard {name}" in text
    assert f'delete element bridge stockyard ports {{ "{TAP}" }}' in text


async def test_a_host_without_nft_gives_a_readable_error() -> None:
    from stockyard.compute.drivers.base import DriverError
    from stockyard.compute.netdp import Datapath

    with pytest.raises(DriverError) as failure:
        await Datapath("hv1", nft="stockyard-no-such-nft").apply(_port())
    assert failure.value.message == (
        "Cannot plug ports on host hv1: 'stockyard-no-such-nft' is not installed "
        "(Debian package nftables)."
    )
