"""Two real VMs on one private network through the real ``openstack`` CLI: the datapath.

``stockyard up`` with this machine as a libvirt hypervisor (see test_libvirt). A pings B
by B's fixed IP over their ports (bridge, taps, nftables on the host); deleting the
security group rule that allowed ICMP stops it, creating it again restores it, ssh keeps
working throughout; deleting the servers leaves no tap, bridge or rule. Needs root for
the datapath (CI runs as root): skipped elsewhere, a failure under CI=true.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from tests.e2e import test_libvirt as lv
from tests.e2e.conftest import RunningCloud

# The libvirt cloud of test_libvirt, shared (pytest finds fixtures by module attribute).
vm_cloud = lv.vm_cloud

CIDR = "10.96.0.0/24"


def _pings(key: Path, port: int, target: str) -> bool:
    out = lv._ssh_ok(key, port, f"ping -c 1 -W 3 {target} >/dev/null && echo OK || echo FAIL")
    return out.strip() == "OK"


def _host_state() -> tuple[str, str]:
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    rules = subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True).stdout
    return links, rules


def test_two_vms_ping_on_a_private_network_and_rules_toggle_it(
    vm_cloud: RunningCloud, tmp_path: Path
) -> None:
    lv._need(os.geteuid() == 0, "the port datapath needs root (bridges, taps, nftables)")
    c = vm_cloud
    host = lv._qemu_host(c)["Hypervisor Hostname"]
    key = tmp_path / "net-key.pem"
    key.write_text(c.os("keypair", "create", "net-key").stdout)
    key.chmod(0o600)

    net = c.os_json("network", "create", "priv")
    c.os_json("subnet", "create", "--network", "priv", "--subnet-range", CIDR, "priv-sub")
    c.os_json("security", "group", "create", "pingable")
    rule = c.os_json("security", "group", "rule", "create", "--ingress", "--protocol", "icmp",
                     "pingable")  # fmt: skip

    servers: dict[str, Any] = {}
    try:
        for name in ("neta", "netb"):
            created = c.os_json(
                "server", "create", "--flavor", "m1.tiny", "--image", "stockyard-tiny",
                "--key-name", "net-key", "--availability-zone", f"az1:{host}",
                "--network", "priv", "--security-group", "pingable", "--wait", name,
            )  # fmt: skip
            assert created["status"] == "ACTIVE"
            servers[name] = c.os_json("server", "show", name)
        b_ip = servers["netb"]["addresses"]["priv"][0]
        a_port = int(servers["neta"]["properties"]["ssh_endpoint"].rpartition(":")[2])
        ports = c.os_json("port", "list", "--network", "priv")
        taps = [f"tap{p['ID'][:11]}" for p in ports]
        assert len(taps) == 2
        bridge = f"sybr{net['id'][:11]}"

        assert lv._ssh_ok(key, a_port, "hostname").strip() == "neta"
        assert lv._wait(f"A to ping B ({b_ip})", lambda: _pings(key, a_port, b_ip))

        c.os("security", "group", "rule", "delete", rule["id"])
        lv._wait("A's pings to stop without the ICMP rule", lambda: not _pings(key, a_port, b_ip))
        assert lv._ssh_ok(key, a_port, "hostname").strip() == "neta"  # ssh is not a port's

        c.os_json("security", "group", "rule", "create", "--ingress", "--protocol", "icmp",
                  "pingable")  # fmt: skip
        lv._wait("A's pings to come back with the rule", lambda: _pings(key, a_port, b_ip))
    finally:
        # Deleting the servers is what removes their taps, bridge and rules (the module's
        # cloud teardown only undefines domains).
        for name in ("neta", "netb"):
            c.os("server", "delete", "--wait", name, check=False)
    links, rules = _host_state()
    assert not [t for t in taps if t in links], links
    assert bridge not in links
    assert not [t for t in taps if t in rules]
