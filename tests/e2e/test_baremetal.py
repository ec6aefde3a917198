"""Baremetal with the real ``openstack`` CLI against ``stockyard up`` (issue 3's tour):
the default lab's Redfish/IPMI emulators, hwmgr and the emulated installer behind it."""

from __future__ import annotations

from tests.e2e.conftest import RunningCloud
from tests.e2e.failure_domains import group_placement, member_domains

DEMO = "stockyard"


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
    # The racks as demo reads them, from its group (not from the nodes' names).
    placement = group_placement(c, group["id"], cloud=DEMO)
    assert sorted(m["name"] for m in placement["members"]) == names
    racks = member_domains(placement, "rack")
    assert len(set(racks.values())) == 3 and placement["rule_met"] is True, placement

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
