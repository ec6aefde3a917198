"""Two real guests on one network through the libvirt driver: the port datapath end to end.

Guest A pings guest B by B's fixed IP over their ports (bridge, taps, nftables) while ssh
keeps going through the management NIC; taking the ICMP rule off B's port (update_ports)
stops it, putting it back restores it; delete leaves no tap, bridge or rule behind. Same
prerequisites as test_qemu_boot, plus root (bridges, taps and nftables).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stockyard.bus.contract import SecurityRuleSpec
from stockyard.compute.drivers.base import InstanceSpec
from stockyard.compute.netdp import bridge_name, tap_name
from tests.libvirt import test_qemu_boot as boot
from tests.libvirt.conftest import make_spec

# The fixtures of the boot test, shared (pytest finds fixtures by module attribute).
tiny_image = boot.tiny_image
vm_data_dir = boot.vm_data_dir
qemu_driver = boot.qemu_driver
ssh_key = boot.ssh_key

EGRESS = [
    SecurityRuleSpec(direction="egress", ethertype="IPv4"),
    SecurityRuleSpec(direction="egress", ethertype="IPv6"),
]
ICMP_IN = SecurityRuleSpec(direction="ingress", protocol="icmp")


def _port(network_id: str, ip: str, mac: str) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "network_id": network_id,
        "mac_address": mac,
        "mtu": 1450,
        "fixed_ips": [
            {"subnet_id": "sub", "ip_address": ip, "cidr": "10.97.0.0/24", "gateway_ip": None}
        ],
        "security_rules": [r.model_dump() for r in [*EGRESS, ICMP_IN]],
    }


def _output(*args: str) -> str:
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout


async def _pings(key: Path, port: str, target: str) -> bool:
    """One ping from the guest behind ``port`` (ssh) to ``target``; ssh must work."""
    args = [
        "ssh", "-i", str(key), "-p", port, "-o", "BatchMode=yes",
        "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
        "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=10", "root@127.0.0.1",
        f"ping -c 1 -W 3 {target} >/dev/null && echo PING-OK || echo PING-FAIL",
    ]  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    text = out.decode()
    assert "PING-" in text, f"ssh into the guest failed: {err.decode()}"
    return "PING-OK" in text


async def _eventually(key: Path, port: str, command: str, ok: Callable[[str], bool]) -> bool:
    for _ in range(30):
        if ok(await boot.ssh(key, port, command)):
            return True
        await asyncio.sleep(1)
    return False


async def _eventually_pings(key: Path, port: str, target: str) -> bool:
    # The first echo may wait on ARP while B's NIC settles: a few tries, no timing asserted.
    for _ in range(5):
        if await _pings(key, port, target):
            return True
    return False


async def test_two_guests_ping_over_their_ports_and_rules_toggle_it(
    qemu_driver: Any, ssh_key: Path
) -> None:
    boot._need(os.geteuid() == 0, "the port datapath needs root (bridges, taps, nftables)")
    boot._need(shutil.which("nft") is not None, "nft is not installed (scripts/install-libvirt)")
    drv = qemu_driver
    network = str(uuid.uuid4())
    a_port = _port(network, "10.97.0.11", "fa:16:3e:97:00:11")
    b_port = _port(network, "10.97.0.12", "fa:16:3e:97:00:12")
    key = ssh_key.with_suffix(".pub").read_text()
    specs = [
        make_spec(
            hostname=name,
            image_ref="stockyard-tiny",
            flavor={"vcpus": 1, "ram": 256, "disk": 1},
            key_data=key,
            ports=[port],
        )
        for name, port in (("vma", a_port), ("vmb", b_port))
    ]
    a, b = specs
    for spec in specs:
        drv.created_here.append(spec.uuid)
        await drv.spawn(spec)
    for spec in specs:
        await boot.wait_for_markers(drv, spec, 1)
    a_ssh = (await drv.get_instance_metadata(a))["ssh_endpoint"].rpartition(":")[2]
    assert await boot.ssh(ssh_key, a_ssh, "hostname") == "vma"
    # The port's NIC got its address from network_data.json, the port's MTU too.
    show = "ip -o addr show | grep 10.97.0.11; ip -o link | grep 1450"
    nic = await boot.ssh(ssh_key, a_ssh, show)
    assert "10.97.0.11/24" in nic and "mtu 1450" in nic

    assert await _eventually_pings(ssh_key, a_ssh, "10.97.0.12"), "A cannot ping B"

    # B's group loses its ICMP rule: the conductor sends update_ports with B's new rules.
    b_off = InstanceSpec.from_dict({**b.to_dict(), "ports": [{**b_port, "security_rules": [
        r.model_dump() for r in EGRESS
    ]}]})  # fmt: skip
    await drv.update_ports(b_off)
    assert not await _pings(ssh_key, a_ssh, "10.97.0.12"), "A still pings B without the rule"
    assert await boot.ssh(ssh_key, a_ssh, "hostname") == "vma"  # ssh is not a port's traffic

    await drv.update_ports(b)
    assert await _eventually_pings(ssh_key, a_ssh, "10.97.0.12"), "the rule's return did not"

    # Hot-plug a second port into A: its tap joins the bridge and the guest sees the NIC;
    # unplug takes both away again.
    c_port = _port(network, "10.97.0.13", "fa:16:3e:97:00:13")
    a_two = InstanceSpec.from_dict({**a.to_dict(), "ports": [a_port, c_port]})
    await drv.attach_interface(a_two, a_two.ports[1])
    await drv.attach_interface(a_two, a_two.ports[1])  # a resent op changes nothing
    bridged = await asyncio.to_thread(
        _output, "ip", "-o", "link", "show", "master", bridge_name(network)
    )
    assert tap_name(c_port["id"]) in bridged
    macs = "cat /sys/class/net/*/address"
    assert await _eventually(ssh_key, a_ssh, macs, lambda out: "fa:16:3e:97:00:13" in out)
    await drv.detach_interface(a_two, c_port["id"])
    assert tap_name(c_port["id"]) not in await asyncio.to_thread(_output, "ip", "-o", "link")
    assert await _eventually(ssh_key, a_ssh, macs, lambda out: "fa:16:3e:97:00:13" not in out)

    taps = {tap_name(a_port["id"]), tap_name(b_port["id"]), tap_name(c_port["id"])}
    for spec in specs:
        await drv.destroy(spec)
        drv.created_here.remove(spec.uuid)
    links = await asyncio.to_thread(_output, "ip", "-o", "link")
    assert not [t for t in taps if t in links]
    assert bridge_name(network) not in links
    ruleset = await asyncio.to_thread(_output, "nft", "list", "ruleset")
    assert not [t for t in taps if t in ruleset]
