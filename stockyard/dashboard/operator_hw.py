"""Node states and install tasks for the operator view, from the stock API's admin-only
``/node-states`` and ``/tasks`` (which read each region's hardware manager).

The dashboard only asks: the API decides who may see them (403 for a member, which the
floor plan's own 403 already turned into the page's error), and names the regions whose
hardware manager did not answer; those names are shown, not hidden.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stockyard.dashboard.client import APIFailure, Cloud

SERVICE = "baremetal-stock"
# Provision states a task moves; the picture marks them, the task table follows them.
MOVING = frozenset({"deploying", "cleaning"})


@dataclass
class NodeState:
    provision_state: str
    power_state: str | None
    last_error: str | None

    @property
    def label(self) -> str:
        power = f"power {self.power_state}" if self.power_state else "power unknown"
        return f"{self.provision_state}, {power}"

    @property
    def css(self) -> str:
        if self.provision_state == "error":
            return "svg-node-error"
        return "svg-installing" if self.provision_state in MOVING else ""


@dataclass
class TaskRow:
    id: str
    region: str
    node: str
    type: str
    phase: str
    started_at: str | None
    elapsed_seconds: int
    attempts: int

    @property
    def elapsed(self) -> str:
        """'45 s', '2 min 05 s', '1 h 03 min': what an operator reads at a glance."""
        s = self.elapsed_seconds
        if s < 60:
            return f"{s} s"
        if s < 3600:
            return f"{s // 60} min {s % 60:02d} s"
        return f"{s // 3600} h {s % 3600 // 60:02d} min"

    @property
    def phase_label(self) -> str:
        return self.phase.replace("_", " ")


@dataclass
class Hardware:
    """What the hardware managers said; ``unreachable``: 'region: why' lines."""

    nodes: dict[str, NodeState] = field(default_factory=dict)
    tasks: list[TaskRow] = field(default_factory=list)
    unreachable: list[str] = field(default_factory=list)
    available: bool = True  # False: no stock API in the catalog (a VM-only cloud)


async def _get(cloud: Cloud, path: str, params: dict[str, str] | None = None) -> Any:
    try:
        return await cloud.request("GET", SERVICE, path, params=params)
    except APIFailure as exc:
        if exc.status in (403, 404):
            return None
        raise


def _unreachable(body: dict[str, Any], out: list[str]) -> None:
    for u in body.get("unreachable") or []:
        line = f"{u['region']}: {u['message']}"
        if line not in out:
            out.append(line)


async def node_states(cloud: Cloud) -> Hardware:
    """Node name -> state, and the regions that did not answer."""
    hw = Hardware()
    body = await _get(cloud, "/node-states") if cloud.has(SERVICE) else None
    if body is None:
        hw.available = False
        return hw
    for n in body.get("nodes", []):
        hw.nodes[n["name"]] = NodeState(n["provision_state"], n.get("power_state"),
                                        n.get("last_error"))  # fmt: skip
    _unreachable(body, hw.unreachable)
    return hw


async def running_tasks(cloud: Cloud) -> Hardware:
    """Install and clean tasks in progress, oldest first."""
    hw = Hardware()
    body = await _get(cloud, "/tasks", {"state": "running"}) if cloud.has(SERVICE) else None
    if body is None:
        hw.available = False
        return hw
    for t in body.get("tasks", []):
        hw.tasks.append(
            TaskRow(
                id=t["id"],
                region=t["region"],
                node=t.get("node_name") or t["node_uuid"],
                type=t["type"],
                phase=t["phase"],
                started_at=t.get("started_at"),
                elapsed_seconds=int(t.get("elapsed_seconds") or 0),
                attempts=int(t.get("attempts") or 0),
            )
        )
    _unreachable(body, hw.unreachable)
    return hw
