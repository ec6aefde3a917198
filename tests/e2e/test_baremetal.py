"""Baremetal with the real ``openstack`` CLI against ``stockyard up`` (issue 3's tour):
the default lab's Redfish/IPMI emulators, hwmgr and the emulated installer behind it."""

from __future__ import annotations

from tests.e2e.conftest import RunningCloud

DEMO = "stockyard"


def _racks(c: RunningCloud, names: list[str]) -> dict[str, str]:
    """Server name -> rack of its node (admin sees the node; names carry the rack)."""
    racks = {}
    for name in names:
        server_id = c.os_json("server", "show", name, cloud=DEMO)["id"]
        server = c.os_json("server", "show", server_id)
        node = server.get("OS-EXT-SRV-ATTR:hypervisor_hostname") or server["OS-EXT-SRV-ATTR:host"]
        racks[name] = f"{server['OS-EXT-AZ:availability_zone']}/{node.split('-')[2]}"
    return racks


def test_baremetal_tour(running_cloud: RunningCloud) -> None:
    c = running_cloud
    flavors = {f["Name"] for f in c.os_json("flavor", "list", cloud=DEMO)}
    assert {"bm.gold", "bm.silver"} <= flavors

    group = c.os_json(
        "--os-compute-api-version",
        "2.64",
        "server",
        "group",
        "create",
        "--policy",
        "anti-affinity",
        "--rule",
        "failure_domain=rack",
        "db",
        cloud=DEMO,
    )
    c.os(
        "server", "create", "--flavor", "bm.gold", "--image", "stockyard-default",
        "--hint", f"group={group['id']}", "--min", "3", "--max", "3", "--wait", "db",
        cloud=DEMO, timeout=300,
    )  # fmt: skip
    names = ["db-1", "db-2", "db-3"]
    for name in names:
        assert c.os_json("server", "show", name, cloud=DEMO)["status"] == "ACTIVE"
    racks = _racks(c, names)
    assert len(set(racks.values())) == 3, racks

    c.os("server", "reboot", "--hard", "--wait", "db-1", cloud=DEMO, timeout=300)
    assert c.os_json("server", "show", "db-1", cloud=DEMO)["status"] == "ACTIVE"
    c.os(
        "server", "rebuild", "--image", "stockyard-default", "--wait", "db-1",
        cloud=DEMO, timeout=300,
    )  # fmt: skip
    assert c.os_json("server", "show", "db-1", cloud=DEMO)["status"] == "ACTIVE"

    c.os("server", "delete", "--wait", *names, cloud=DEMO, timeout=300)
    assert [s for s in c.os_json("server", "list", cloud=DEMO) if s["Name"] in names] == []


def test_a_project_without_stock_gets_a_readable_error(running_cloud: RunningCloud) -> None:
    c = running_cloud
    # Room in the quota, so that the scheduler (not the quota) is what says no.
    c.os("quota", "set", "--cores", "-1", "--ram", "-1", "admin")
    proc = c.os(
        "server", "create", "--flavor", "bm.gold", "--image", "stockyard-default",
        "--wait", "nostock", check=False, timeout=300,
    )  # fmt: skip
    assert proc.returncode != 0, proc.stdout
    assert "Error creating server: nostock" in proc.stderr, proc.stderr
    server = c.os_json("server", "show", "nostock")
    assert server["status"] == "ERROR"
    fault = str(server.get("fault"))
    assert "No valid host" in fault and "stock" in fault, fault
    c.os("server", "delete", "--wait", "nostock")
