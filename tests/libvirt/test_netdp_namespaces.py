"""The datapath for real, without VMs: two network namespaces stand in for two guests.

Each "guest" is a namespace whose eth0 is one end of a veth pair; the other end, on the
host, carries the port's tap name, so the datapath plugs it into the network's bridge and
filters it exactly as it does a VM's tap. Needs root, ``ip`` and ``nft``: skipped
elsewhere with the reason, a failure under CI=true (as the libvirt tests).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator

import pytest

from stockyard.bus.contract import PortSpec, SecurityRuleSpec
from stockyard.compute.netdp import Datapath, bridge_name, tap_name
from tests.libvirt.conftest import require

CIDR = "10.99.0.0/24"
DEFAULT_EGRESS = [
    SecurityRuleSpec(direction="egress", ethertype="IPv4"),
    SecurityRuleSpec(direction="egress", ethertype="IPv6"),
]


def _sh(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, check=check, capture_output=True, text=True)


@pytest.fixture
def root_tools() -> None:
    require(os.geteuid() == 0, "the datapath test needs root (namespaces, bridges, nftables)")
    for tool in ("ip", "nft", "busybox"):
        require(
            shutil.which(tool) is not None, f"{tool} is not installed (scripts/install-libvirt)"
        )


def _port(network_id: str, ip: str, mac: str, rules: list[SecurityRuleSpec]) -> PortSpec:
    return PortSpec(
        id=str(uuid.uuid4()),
        network_id=network_id,
        mac_address=mac,
        fixed_ips=[
            {"subnet_id": "subnet", "ip_address": ip, "cidr": CIDR, "gateway_ip": "10.99.0.1"}
        ],
        mtu=1450,
        security_rules=rules,
    )


class Guest:
    """A namespace with one NIC whose host end is named as ``port``'s tap."""

    def __init__(self, port: PortSpec) -> None:
        self.port = port
        self.ns = f"sy-{port.id[:8]}"
        self.tap = tap_name(port.id)
        _sh("ip", "netns", "add", self.ns)
        _sh("ip", "link", "add", self.tap, "type", "veth", "peer", "name", "eth0", "netns", self.ns)
        ip = port.fixed_ips[0].ip_address
        self.ip = ip
        for cmd in (
            ("ip", "link", "set", "eth0", "address", port.mac_address, "mtu", str(port.mtu)),
            ("ip", "addr", "add", f"{ip}/24", "dev", "eth0"),
            ("ip", "link", "set", "eth0", "up"),
            ("ip", "link", "set", "lo", "up"),
        ):
            _sh("ip", "netns", "exec", self.ns, *cmd)

    def ping(self, other: Guest, tries: int = 3) -> bool:
        """One ping gets through (up to ``tries`` attempts: ARP may be mid-probe)."""
        for _ in range(tries):
            done = _sh(
                "ip", "netns", "exec", self.ns, "busybox", "ping", "-c", "1", "-W", "2", other.ip,
                check=False,
            )  # fmt: skip
            if done.returncode == 0:
                return True
        return False

    def cannot_ping(self, other: Guest) -> bool:
        return not self.ping(other, tries=1)

    def forget_neighbours(self) -> None:
        _sh("ip", "netns", "exec", self.ns, "ip", "neigh", "flush", "all")

    def close(self) -> None:
        _sh("ip", "netns", "del", self.ns, check=False)


@pytest.fixture
def network() -> Iterator[str]:
    net = str(uuid.uuid4())
    yield net
    _sh("ip", "link", "del", bridge_name(net), check=False)


async def test_two_guests_ping_and_security_group_rules_toggle_it(
    root_tools: None, network: str
) -> None:
    icmp_in = SecurityRuleSpec(direction="ingress", protocol="icmp")
    a_port = _port(network, "10.99.0.11", "fa:16:3e:00:99:11", [*DEFAULT_EGRESS, icmp_in])
    b_port = _port(network, "10.99.0.12", "fa:16:3e:00:99:12", [*DEFAULT_EGRESS, icmp_in])
    a, b = Guest(a_port), Guest(b_port)
    dp = Datapath("test-host")
    try:
        assert await dp.plug(a_port) == a.tap
        await dp.plug(b_port)
        await dp.plug(b_port)  # a resent spawn changes nothing
        bridge = bridge_name(network)
        assert _sh("ip", "-o", "link", "show", "master", bridge).stdout.count(": tap") == 2
        mtu = _sh("cat", f"/sys/class/net/{a.tap}/mtu").stdout.strip()
        assert mtu == "1450"

        assert a.ping(b), "A cannot ping B with an ICMP ingress rule on B"

        # B's group loses the ICMP rule: A's echo requests are dropped at B's port.
        b_port.security_rules = list(DEFAULT_EGRESS)
        await dp.apply(b_port)
        assert a.cannot_ping(b), "A still pings B after B's ICMP rule was removed"
        assert b.ping(a), "B's own pings (egress, replies allowed back) should still work"

        # A remote-group rule naming A's address lets A in again, and nobody else.
        b_port.security_rules = [
            *DEFAULT_EGRESS,
            SecurityRuleSpec(direction="ingress", protocol="icmp", remote_ips=[a.ip]),
        ]
        await dp.apply(b_port)
        assert a.ping(b), "the ICMP rule from A's group did not restore A's pings"
        b_port.security_rules = [
            *DEFAULT_EGRESS,
            SecurityRuleSpec(direction="ingress", protocol="icmp", remote_ips=[]),
        ]
        await dp.apply(b_port)
        assert a.cannot_ping(b), "an empty remote group let A in"

        # Anti-spoofing: A taking another address cannot reach B (port security on)...
        b_port.security_rules = [*DEFAULT_EGRESS, icmp_in]
        await dp.apply(b_port)
        _sh("ip", "netns", "exec", a.ns, "ip", "addr", "flush", "dev", "eth0")
        _sh("ip", "netns", "exec", a.ns, "ip", "addr", "add", "10.99.0.66/24", "dev", "eth0")
        assert a.cannot_ping(b), "A spoofing 10.99.0.66 got through"
        # ... and can once port security is off on A's port.
        a_port.port_security_enabled = False
        await dp.apply(a_port)
        a.forget_neighbours()  # A's failed ARP for B (sent as .66) is no news about B
        b.forget_neighbours()
        assert a.ping(b), "port security off on A still filters A's traffic"
    finally:
        a.close()
        b.close()
        await dp.unplug(a_port.id, network)
        await dp.unplug(b_port.id, network)
        await dp.unplug(b_port.id, network)  # unplugging twice is a success

    links = _sh("ip", "-o", "link").stdout
    assert a.tap not in links and b.tap not in links
    assert bridge_name(network) not in links
    ruleset = _sh("nft", "list", "ruleset").stdout
    assert a.tap not in ruleset and b.tap not in ruleset
