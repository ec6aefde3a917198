"""Interface hot-plug on a real VM through the real ``openstack`` CLI: ``server add
network`` plugs a port whose NIC (by its MAC) appears in the guest and whose tap appears
on the host; ``server remove network`` takes both away again. Needs root for the
datapath (CI runs as root): skipped elsewhere, a failure under CI=true.
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


def _guest_links(key: Path, port: int) -> str:
    return lv._ssh_ok(key, port, "ip -o link").lower()


def _host_links() -> str:
    return subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout


def test_an_attached_port_appears_in_the_guest(vm_cloud: RunningCloud, tmp_path: Path) -> None:
    lv._need(os.geteuid() == 0, "the port datapath needs root (bridges, taps, nftables)")
    c = vm_cloud
    host = lv._qemu_host(c)["Hypervisor Hostname"]
    key = tmp_path / "plug-key.pem"
    key.write_text(c.os("keypair", "create", "plug-key").stdout)
    key.chmod(0o600)
    for name, cidr in (("plug-a", "10.97.0.0/24"), ("plug-b", "10.98.0.0/24")):
        c.os("network", "create", name)
        c.os("subnet", "create", "--network", name, "--subnet-range", cidr, f"{name}-sub")
    try:
        c.os(
            "server", "create", "--flavor", "m1.tiny", "--image", "stockyard-tiny",
            "--key-name", "plug-key", "--availability-zone", f"az1:{host}",
            "--network", "plug-a", "--wait", "plugvm",
        )  # fmt: skip
        shown = c.os_json("server", "show", "plugvm")
        ssh_port = int(shown["properties"]["ssh_endpoint"].rpartition(":")[2])
        assert lv._ssh_ok(key, ssh_port, "hostname").strip() == "plugvm"

        c.os("server", "add", "network", "plugvm", "plug-b")

        def plugged() -> dict[str, Any] | None:
            rows = c.os_json("port", "list", "--server", "plugvm", "--network", "plug-b")
            return rows[0] if rows and rows[0]["Status"] == "ACTIVE" else None

        port = lv._wait("the new port to be ACTIVE", plugged)
        mac, tap = port["MAC Address"].lower(), f"tap{port['ID'][:11]}"
        assert tap in _host_links()
        lv._wait("the NIC in the guest", lambda: mac in _guest_links(key, ssh_port))
        assert "10.98.0." in str(c.os_json("server", "show", "plugvm")["addresses"])

        c.os("server", "remove", "network", "plugvm", "plug-b")
        lv._wait("the NIC to leave the guest", lambda: mac not in _guest_links(key, ssh_port))
        lv._wait("the tap to go", lambda: tap not in _host_links())
        assert c.os_json("port", "list", "--network", "plug-b") == []
    finally:
        c.os("server", "delete", "--wait", "plugvm", check=False)
        for name in ("plug-a", "plug-b"):
            c.os("network", "delete", name, check=False)
