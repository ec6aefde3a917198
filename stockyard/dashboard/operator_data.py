"""The operator's floor plan: regions > zones > racks > hosts/nodes, with occupancy.

All from the compute API as an admin's CLI sees it: rack aggregates place hosts
(``os-aggregates``), ``os-hypervisors/detail`` gives each host's use and state, and
``os-services`` (binary ``nova-compute``) the service id that enables or disables it.
Baremetal nodes come from the stock API (owner, in use). A user the API refuses (403)
gets the API's message, not a plan: the dashboard does not decide who is an operator.
Bulk actions are the same calls the CLI makes, one per selected host, and each host's
answer is reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup

from stockyard.dashboard.client import APIFailure, Cloud
from stockyard.dashboard.operator_hw import NodeState, node_states
from stockyard.dashboard.svg import Box, render
from stockyard.dashboard.together import together

UNRACKED = "(no rack)"


@dataclass
class HostInfo:
    name: str
    region: str
    az: str
    rack: str
    kind: str  # hypervisor type: fake, QEMU, baremetal...
    status: str  # enabled | disabled
    state: str  # up | down
    disabled_reason: str | None
    vcpus: int
    vcpus_used: int
    servers: int
    service_id: str | None
    aggregates: list[str] = field(default_factory=list)
    owner: str | None = None  # baremetal: the project whose stock it is
    hw: NodeState | None = None  # baremetal: what its hardware manager says

    @property
    def occupancy(self) -> str:
        if self.status == "disabled":
            return "svg-disabled"
        if self.hw is not None and self.hw.css:
            return self.hw.css
        if self.servers == 0:
            return ""
        return "svg-full" if self.vcpus and self.vcpus_used >= self.vcpus else "svg-busy"


@dataclass
class FloorPlan:
    hosts: list[HostInfo]
    aggregates: list[dict[str, Any]]  # every aggregate, for membership actions
    unreachable: list[str] = field(default_factory=list)  # regions without hwmgr answer

    def picture(self) -> Markup:
        tree: dict[str, dict[str, dict[str, list[HostInfo]]]] = {}
        for h in self.hosts:
            tree.setdefault(h.region, {}).setdefault(h.az, {}).setdefault(h.rack, []).append(h)
        roots = [
            Box(
                label=f"region {region}",
                kind="region",
                data={"region": region},
                children=[
                    Box(
                        label=f"zone {az}",
                        kind="az",
                        data={"az": az},
                        children=[
                            Box(
                                label=f"rack {rack}",
                                kind="rack",
                                title=f"rack {rack} in {az}: {len(hosts)} host(s)",
                                data={"rack": rack, "az": az},
                                children=[_host_box(h) for h in hosts],
                            )
                            for rack, hosts in sorted(racks.items())
                        ],
                    )
                    for az, racks in sorted(azs.items())
                ],
            )
            for region, azs in sorted(tree.items())
        ]
        busy = sum(1 for h in self.hosts if h.servers)
        label = f"Floor plan: {len(self.hosts)} hosts, {busy} holding servers"
        return render(roots, label, "floor-plan")


def _host_box(h: HostInfo) -> Box:
    lines = [(f"{h.servers} server(s), {h.vcpus_used}/{h.vcpus} vCPU", "svg-line")]
    if h.status == "disabled":
        lines.append((f"disabled: {h.disabled_reason or 'no reason'}", "svg-free"))
    if h.state != "up":
        lines.append((f"service {h.state}", "svg-free"))
    if h.owner:
        lines.append((f"stock of {h.owner[:8]}", "svg-free"))
    data = {"host": h.name, "status": h.status}
    title = f"{h.name} ({h.kind}): {lines[0][0]}, {h.status}, {h.state}"
    if h.hw is not None:
        lines.append((h.hw.label, f"svg-state-{h.hw.provision_state}"))
        data["provision-state"] = h.hw.provision_state
        title += f"; node {h.hw.label}"
        if h.hw.last_error:
            title += f"; last error: {h.hw.last_error}"
    return Box(
        label=h.name,
        kind="host",
        css=h.occupancy,
        title=title,
        data=data,
        lines=lines,
    )


async def _nodes(cloud: Cloud) -> dict[str, dict[str, Any]]:
    if not cloud.has("baremetal-stock"):
        return {}
    try:
        body = await cloud.request("GET", "baremetal-stock", "/nodes")
    except APIFailure as exc:
        if exc.status in (403, 404):
            return {}
        raise
    return {n["name"]: n for n in body.get("nodes", [])}


async def floor_plan(cloud: Cloud) -> FloorPlan:
    """The plan; the API's 403 (not an admin) propagates as the page's error."""
    hypervisors, aggs, services, nodes, hw = await together(
        cloud.compute("GET", "/os-hypervisors/detail"),
        cloud.compute("GET", "/os-aggregates"),
        cloud.compute("GET", "/os-services", params={"binary": "nova-compute"}),
        _nodes(cloud),
        node_states(cloud),
    )
    aggregates = sorted(aggs.get("aggregates", []), key=lambda a: a["name"])
    place: dict[str, tuple[str, str, str]] = {}
    member_of: dict[str, list[str]] = {}
    for agg in aggregates:
        meta = agg.get("metadata") or {}
        for host in agg.get("hosts") or []:
            member_of.setdefault(host, []).append(agg["name"])
            if meta.get("stockyard:failure_domain") == "rack":
                place[host] = (
                    str(meta.get("stockyard:region", "?")),
                    str(agg.get("availability_zone") or "?"),
                    str(meta.get("stockyard:rack", agg["name"])),
                )
    service_of = {s["host"]: s for s in services.get("services", [])}
    hosts: list[HostInfo] = []
    for hv in hypervisors.get("hypervisors", []):
        name = (hv.get("service") or {}).get("host") or hv["hypervisor_hostname"]
        service = service_of.get(name, {})
        region, az, rack = place.get(name, ("?", service.get("zone") or "?", UNRACKED))
        node = nodes.get(name, {})
        hosts.append(
            HostInfo(
                name=name,
                region=region,
                az=az,
                rack=rack,
                kind=str(hv.get("hypervisor_type", "")),
                status=str(hv.get("status", "enabled")),
                state=str(hv.get("state", "up")),
                disabled_reason=(hv.get("service") or {}).get("disabled_reason"),
                vcpus=int(hv.get("vcpus") or 0),
                vcpus_used=int(hv.get("vcpus_used") or 0),
                servers=int(hv.get("running_vms") or 0),
                service_id=service.get("id"),
                aggregates=member_of.get(name, []),
                owner=node.get("owner_project"),
                hw=hw.nodes.get(name),
            )
        )
    hosts.sort(key=lambda h: (h.region, h.az, h.rack, h.name))
    return FloorPlan(hosts=hosts, aggregates=aggregates, unreachable=hw.unreachable)


async def bulk(
    cloud: Cloud, plan: FloorPlan, names: list[str], action: str, arg: str
) -> list[tuple[str, str | None]]:
    """Apply ``action`` to each selected host: (host, None) when done, else the API's
    refusal. ``action``: enable | disable (``arg``: reason) | add | remove (``arg``:
    aggregate id)."""
    by_name = {h.name: h for h in plan.hosts}

    async def one(name: str) -> tuple[str, str | None]:
        host = by_name.get(name)
        if host is None:
            return name, "no such host"
        try:
            if action in ("enable", "disable"):
                if host.service_id is None:
                    return name, "no compute service"
                body: dict[str, Any] = {"status": f"{action}d"}
                if action == "disable" and arg:
                    body["disabled_reason"] = arg
                await cloud.compute("PUT", f"/os-services/{host.service_id}", json=body)
            else:
                verb = "add_host" if action == "add" else "remove_host"
                await cloud.compute(
                    "POST", f"/os-aggregates/{arg}/action", json={verb: {"host": name}}
                )
        except APIFailure as exc:
            if exc.status == 401:
                raise
            return name, exc.message
        return name, None

    # One after another: aggregate actions on one aggregate would race each other.
    return [await one(n) for n in names]
