"""deploy/ansible/host-aggregates.yml run for real with ``ansible-playbook`` (the
``openstack.cloud`` collection of the ``ansible`` package, found offline) against a
``stockyard up``: racks as the inventory says, nothing changed on a second run, a host
removed from the inventory leaves its aggregate."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.manifests import DEPLOY
from tests.e2e.conftest import RunningCloud, start_cloud, stop_cloud
from tests.topology.cluster import lab_yaml

PLAYBOOK = DEPLOY / "ansible" / "host-aggregates.yml"
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
RACK_META = "stockyard:failure_domain"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCloud]:
    tmp = tmp_path_factory.mktemp("ansible-cloud")
    # 2 AZs x 2 racks x 2 emulated hypervisors, no baremetal: regionone-az1-r1-hv01 ...
    lab = lab_yaml(tmp / "lab.yaml", azs=2, racks=2, per_rack=2)
    running = start_cloud(tmp, {"STOCKYARD_LAB_FILE": str(lab)})
    yield running
    stop_cloud(running)


def _inventory(path: Path, racks: dict[tuple[str, str, str], list[str]]) -> Path:
    groups = {
        f"{region}_{az}_{rack}".lower(): {
            "vars": {"region": region, "availability_zone": az, "rack": rack},
            "hosts": dict.fromkeys(hosts),
        }
        for (region, az, rack), hosts in racks.items()
    }
    inventory = {"all": {"children": {"hypervisors": {"children": groups}}}}
    path.write_text(yaml.safe_dump(inventory))
    return path


def _play(cloud: RunningCloud, inventory: Path, tmp: Path) -> int:
    """Run the playbook; return the ``changed`` count of its recap."""
    env = cloud.env("stockyard-admin")
    env.update(
        ANSIBLE_HOME=str(tmp / "ansible-home"),
        ANSIBLE_LOCAL_TEMP=str(tmp / "ansible-tmp"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
    )
    out = subprocess.run(
        [str(ANSIBLE_PLAYBOOK), "-i", str(inventory), str(PLAYBOOK), "-e", "cloud=stockyard-admin"],
        env=env, cwd=tmp, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert out.returncode == 0, f"{out.stdout}\n{out.stderr}\n{cloud.log_tail()}"
    recap = re.search(r"^localhost\s*:\s*ok=\d+\s+changed=(\d+).*failed=0", out.stdout, re.M)
    assert recap, out.stdout
    return int(recap.group(1))


def _racks(cloud: RunningCloud) -> dict[tuple[str, str, str], dict[str, Any]]:
    """Rack aggregates by their metadata identity, as the compute API lists them."""
    racks = {}
    for agg in cloud.os_json("aggregate", "list", "--long"):
        props = agg["Properties"]
        if props.get(RACK_META) == "rack":
            key = (props["stockyard:region"], agg["Availability Zone"], props["stockyard:rack"])
            racks[key] = {"name": agg["Name"], "hosts": sorted(agg["Hosts"])}
    return racks


def test_playbook_registers_racks_idempotently_and_removes_hosts(
    cloud: RunningCloud, tmp_path: Path
) -> None:
    before = _racks(cloud)
    assert before[("RegionOne", "az1", "r2")]["hosts"] == [
        "regionone-az1-r2-hv01", "regionone-az1-r2-hv02",
    ]  # fmt: skip
    wanted = {
        ("RegionOne", "az1", "r1"): ["regionone-az1-r1-hv01", "regionone-az1-r1-hv02"],
        # A new rack: r2's hosts moved there.
        ("RegionOne", "az1", "r7"): ["regionone-az1-r2-hv01", "regionone-az1-r2-hv02"],
        # A host moved from az2/r2 to az2/r1; az2-r2-hv02 is not in the inventory.
        ("RegionOne", "az2", "r1"): [
            "regionone-az2-r1-hv01", "regionone-az2-r1-hv02", "regionone-az2-r2-hv01",
        ],
    }  # fmt: skip
    inventory = _inventory(tmp_path / "inventory.yml", wanted)
    assert _play(cloud, inventory, tmp_path) > 0

    racks = _racks(cloud)
    for key, hosts in wanted.items():
        assert racks[key]["hosts"] == sorted(hosts), key
    assert racks[("RegionOne", "az1", "r7")]["name"] == "RegionOne/az1/r7"
    # Racks the inventory no longer fills keep their aggregate, without hosts.
    assert racks[("RegionOne", "az1", "r2")]["hosts"] == []
    assert racks[("RegionOne", "az2", "r2")]["hosts"] == []
    show = cloud.os_json("aggregate", "show", "RegionOne/az1/r7")
    assert show["availability_zone"] == "az1"
    assert show["properties"] == {
        "stockyard:failure_domain": "rack", "stockyard:region": "RegionOne",
        "stockyard:rack": "r7",
    }  # fmt: skip

    # Second run: nothing to change.
    assert _play(cloud, inventory, tmp_path) == 0
    assert _racks(cloud) == racks

    # A host taken out of the inventory leaves its rack aggregate.
    wanted[("RegionOne", "az1", "r1")] = ["regionone-az1-r1-hv01"]
    inventory = _inventory(tmp_path / "inventory.yml", wanted)
    assert _play(cloud, inventory, tmp_path) > 0
    assert _racks(cloud)[("RegionOne", "az1", "r1")]["hosts"] == ["regionone-az1-r1-hv01"]


def test_playbook_modules_ship_in_the_ansible_package() -> None:
    """Every module the playbook calls is installed with ``ansible`` (no Galaxy fetch)."""
    import ansible_collections

    roots = [Path(p) for p in ansible_collections.__path__]
    plays = yaml.safe_load(PLAYBOOK.read_text())
    modules = {
        key
        for play in plays for task in play["tasks"] for key in task
        if key.count(".") == 2
    }  # fmt: skip
    assert "openstack.cloud.host_aggregate" in modules
    for module in modules:
        namespace, collection, name = module.split(".")
        if namespace == "ansible" and collection == "builtin":
            continue
        found = [
            r
            for r in roots
            if (r / namespace / collection / "plugins/modules" / f"{name}.py").is_file()
        ]
        assert found, f"{module} is not in the installed ansible package"
