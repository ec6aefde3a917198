"""Servers and their ports with the real ``openstack`` CLI against ``stockyard up``
(emulated hosts): ``server create --network`` / ``--port``, ``port list --server``,
``server add/remove port`` and ``server add/remove network`` (Nova's ``os-interface``),
the addresses ``server show`` reports, and which ports survive a detach or a delete."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import RunningCloud

DEMO = "stockyard"


def _until(what: str, c: RunningCloud, probe: Callable[[], Any]) -> Any:
    deadline = time.monotonic() + 90
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.5)
    raise AssertionError(f"never {what}: {last}\n{c.log_tail()}")


def _addresses(c: RunningCloud, server: str) -> str:
    return str(c.os_json("server", "show", server, cloud=DEMO)["addresses"])


def _port(c: RunningCloud, name: str) -> dict[str, Any]:
    port: dict[str, Any] = c.os_json("port", "show", name, cloud=DEMO)
    return port


@pytest.fixture(scope="module")
def nets(running_cloud: RunningCloud, tmp_path_factory: pytest.TempPathFactory) -> RunningCloud:
    c = running_cloud
    img = tmp_path_factory.mktemp("img") / "tiny.raw"
    img.write_bytes(b"\0" * 1024)
    c.os("image", "create", "--public", "--file", str(Path(img)), "--disk-format", "raw", "tiny")
    for name, cidr in (("front", "192.168.50.0/24"), ("back", "192.168.60.0/24")):
        c.os("network", "create", name, cloud=DEMO)
        c.os("subnet", "create", "--network", name, "--subnet-range", cidr, f"{name}-sub",
             cloud=DEMO)  # fmt: skip
    return c


def test_create_with_network_and_port_then_delete_keeps_users_port(nets: RunningCloud) -> None:
    c = nets
    c.os("server", "create", "--flavor", "m1.nano", "--image", "tiny", "--network", "front",
         "--wait", "by-net", cloud=DEMO)  # fmt: skip
    assert "front" in _addresses(c, "by-net") and "192.168.50." in _addresses(c, "by-net")
    (own,) = c.os_json("port", "list", "--server", "by-net", cloud=DEMO)
    assert own["Status"] == "ACTIVE" and "192.168.50." in str(own["Fixed IP Addresses"])

    mine = c.os_json("port", "create", "--network", "back", "mine", cloud=DEMO)
    c.os("server", "create", "--flavor", "m1.nano", "--image", "tiny", "--port", "mine",
         "--wait", "by-port", cloud=DEMO)  # fmt: skip
    (listed,) = c.os_json("port", "list", "--server", "by-port", cloud=DEMO)
    assert listed["ID"] == mine["id"]
    ip = mine["fixed_ips"][0]["ip_address"]
    assert ip in _addresses(c, "by-port") and "back" in _addresses(c, "by-port")

    c.os("server", "delete", "--wait", "by-port", "by-net", cloud=DEMO)
    kept = _port(c, "mine")
    assert kept["device_id"] == "" and kept["status"] == "DOWN"
    assert kept["fixed_ips"][0]["ip_address"] == ip  # the user's port keeps its address
    assert c.os_json("port", "list", "--network", "front", cloud=DEMO) == []  # Nova's went
    c.os("port", "delete", "mine", cloud=DEMO)


def test_add_and_remove_port_and_network(nets: RunningCloud) -> None:
    c = nets
    c.os("server", "create", "--flavor", "m1.nano", "--image", "tiny", "--network", "front",
         "--wait", "hotplug", cloud=DEMO)  # fmt: skip
    spare = c.os_json("port", "create", "--network", "back", "spare", cloud=DEMO)
    spare_ip = spare["fixed_ips"][0]["ip_address"]

    c.os("server", "add", "port", "hotplug", "spare", cloud=DEMO)
    _until("ACTIVE", c, lambda: _port(c, "spare")["status"] == "ACTIVE")
    assert (
        _port(c, "spare")["device_id"] == c.os_json("server", "show", "hotplug", cloud=DEMO)["id"]
    )
    assert spare_ip in _addresses(c, "hotplug")
    assert len(c.os_json("port", "list", "--server", "hotplug", cloud=DEMO)) == 2

    busy = c.os("server", "add", "port", "hotplug", "spare", cloud=DEMO, check=False)
    assert busy.returncode != 0 and f"Port {spare['id']} is still in use." in busy.stderr

    c.os("server", "remove", "port", "hotplug", "spare", cloud=DEMO)
    _until("unbound", c, lambda: _port(c, "spare")["device_id"] == "")
    assert spare_ip not in _addresses(c, "hotplug")
    assert _port(c, "spare")["fixed_ips"][0]["ip_address"] == spare_ip  # kept, with its IP

    c.os("server", "add", "network", "hotplug", "back", cloud=DEMO)

    def active() -> list[dict[str, Any]]:
        rows = c.os_json("port", "list", "--server", "hotplug", cloud=DEMO)
        return rows if len([p for p in rows if p["Status"] == "ACTIVE"]) == 2 else []

    ports = _until("two active ports", c, active)
    assert "192.168.60." in _addresses(c, "hotplug")
    made = next(p for p in ports if "192.168.60." in str(p["Fixed IP Addresses"]))

    c.os("server", "remove", "network", "hotplug", "back", cloud=DEMO)
    _until(
        "deleted", c, lambda: c.os("port", "show", made["ID"], cloud=DEMO, check=False).returncode
    )
    assert "back" not in _addresses(c, "hotplug") and "front" in _addresses(c, "hotplug")

    actions = [e["Action"] for e in c.os_json("server", "event", "list", "hotplug", cloud=DEMO)]
    assert actions.count("attach_interface") == 2 and actions.count("detach_interface") == 2
    c.os("server", "delete", "--wait", "hotplug", cloud=DEMO)
    c.os("port", "delete", "spare", cloud=DEMO)
