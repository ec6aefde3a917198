"""The topology suite (tests/topology) starts each role with the options the manifests of
deploy/ start it with, so what the suite proves on separate processes is what a cluster
runs. Values differ (ports, paths, report interval), option names do not."""

from __future__ import annotations

from pathlib import Path

from tests.deploy.manifests import DEPLOY, render, role_command, workloads
from tests.topology.cluster import role_args, upgrade_args

# A scaling knob the manifests and the suite's multi-worker tests both use (`--workers 2`).
TUNING = {"--workers"}


def _options(args: list[str]) -> list[str]:
    return sorted(a for a in args if a.startswith("--") and a not in TUNING)


def _manifest_commands() -> dict[str, list[str]]:
    """Role -> its arguments after ``stockyard``, from the base manifests."""
    commands = {}
    for doc in workloads(render(DEPLOY / "base")):
        command = role_command(doc)
        if command[0] == "stockyard":
            commands[" ".join(a for a in command[1:3] if not a.startswith("-"))] = command[1:]
    return commands


def test_topology_starts_each_role_with_the_manifests_options() -> None:
    manifests = _manifest_commands()
    lab = Path("/etc/stockyard/lab.yaml")
    compared = []
    for role in ("api", "scheduler", "conductor", "volume", "agent", "baremetal-agent"):
        key = next(k for k in manifests if k.split()[0] == role)
        suite = role_args(
            role, health_port=8090, lab=lab, region="RegionOne", hwmgr_url="http://hwmgr:6385"
        )
        assert _options(suite) == _options(manifests[key]), role
        assert suite[0] == manifests[key][0]
        compared.append(role)
    assert _options(upgrade_args(lab)) == _options(manifests["db upgrade"])
    assert upgrade_args(lab)[:2] == manifests["db upgrade"][:2]
    # Every stockyard role of the manifests is one the suite runs (the dashboard, a client
    # of the public APIs, is tested on its own in tests/dashboard).
    assert set(manifests) - {"db upgrade", "dashboard"} == set(compared)
