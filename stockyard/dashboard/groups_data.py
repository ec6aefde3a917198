"""The API calls behind the HA groups pages, and what the picture is drawn from.

One page is ``GET /os-server-groups`` plus, per group, Stockyard's
``GET /os-server-groups/{id}/stockyard-placement`` (each member's region, zone and rack,
and the API's own verdict ``rule_met``), all concurrent. The failure domains drawn around
the members are those the user may know of: the racks of the project's baremetal stock
(``GET /stock/v1/stock``) and, for whoever the API lets list aggregates (admins), every
rack aggregate. A member's host is its ``hostId`` (Nova's per-project hash): members do
not see host names, and the picture needs only to tell hosts apart.

Whether the rule holds is the API's answer; the dashboard only marks which domains hold
more members than the rule allows, so the picture shows *where* it is broken.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup

from stockyard.dashboard.client import APIFailure, Cloud
from stockyard.dashboard.faults import PlainFault, plain_fault
from stockyard.dashboard.svg import Box, render
from stockyard.dashboard.together import together

RackKey = tuple[str, str, str]  # (region, availability zone, rack)

# Words for the rule, as the create form offers it.
POLICY_WORDS = {
    "anti-affinity": "must be spread",
    "soft-anti-affinity": "spread as far as possible",
    "affinity": "must be together",
    "soft-affinity": "together if possible",
}
DOMAIN_WORDS = {"host": "host", "rack": "rack", "az": "availability zone", "region": "region"}


@dataclass
class Member:
    id: str
    name: str
    status: str
    host_id: str
    region: str | None
    az: str | None
    rack: str | None
    fault: PlainFault | None = None

    @property
    def placed(self) -> bool:
        return self.rack is not None and self.az is not None and self.region is not None

    @property
    def host_label(self) -> str:
        return f"host {self.host_id[:8]}" if self.host_id else "host ?"

    def domain(self, level: str) -> str | None:
        """The member's failure domain at ``level`` (None while it is on no host)."""
        if not self.placed:
            return None
        return {
            "host": self.host_id,
            "rack": f"{self.region}/{self.az}/{self.rack}",
            "az": f"{self.region}/{self.az}",
            "region": str(self.region),
        }[level]


@dataclass
class GroupView:
    id: str
    name: str
    policy: str
    failure_domain: str
    rule_met: bool
    members: list[Member]
    racks: list[RackKey] = field(default_factory=list)  # domains to draw, even empty

    @property
    def hard(self) -> bool:
        return not self.policy.startswith("soft-")

    @property
    def anti(self) -> bool:
        return "anti-affinity" in self.policy

    @property
    def rule_words(self) -> str:
        level = DOMAIN_WORDS.get(self.failure_domain, self.failure_domain)
        return (
            f"{POLICY_WORDS.get(self.policy, self.policy)}, one {level} per member"
            if (self.anti)
            else f"{POLICY_WORDS.get(self.policy, self.policy)}, in one {level}"
        )

    @property
    def placed(self) -> list[Member]:
        return [m for m in self.members if m.placed]

    @property
    def unplaced(self) -> list[Member]:
        return [m for m in self.members if not m.placed]

    def crowded(self) -> set[str]:
        """Domains (at the rule's level) where the placement breaks the rule: for
        anti-affinity those holding more than one member; for affinity every domain
        used when there are several."""
        used = Counter(d for m in self.members if (d := m.domain(self.failure_domain)))
        if self.anti:
            return {d for d, n in used.items() if n > 1}
        return set(used) if len(used) > 1 else set()


async def _optional(coro: Any) -> Any:
    """The body, or None when the API refuses the user (403/404) or lacks the service."""
    try:
        return await coro
    except APIFailure as exc:
        if exc.status in (403, 404, 503):
            return None
        raise


async def known_racks(cloud: Cloud) -> list[RackKey]:
    """Racks the user may know of: the project's stock racks, all rack aggregates if
    the API lets the user list aggregates."""
    stock, aggs = await together(
        _optional(cloud.request("GET", "baremetal-stock", "/stock"))
        if cloud.has("baremetal-stock")
        else asyncio.sleep(0),
        _optional(cloud.compute("GET", "/os-aggregates")),
    )
    racks: set[RackKey] = set()
    for g in ((stock or {}).get("stock") or {}).get("groups", []):
        racks.add((g["region"], g["availability_zone"], g["rack"]))
    for agg in (aggs or {}).get("aggregates", []):
        meta = agg.get("metadata") or {}
        if meta.get("stockyard:failure_domain") == "rack" and agg.get("availability_zone"):
            racks.add((meta.get("stockyard:region", "?"), agg["availability_zone"],
                       meta.get("stockyard:rack", agg["name"])))  # fmt: skip
    return sorted(racks)


async def _fault(cloud: Cloud, member: dict[str, Any]) -> PlainFault | None:
    if member.get("status") != "ERROR":
        return None
    body = await _optional(cloud.compute("GET", f"/servers/{member['id']}"))
    return plain_fault(((body or {}).get("server") or {}).get("fault"))


async def group_view(cloud: Cloud, group_id: str, racks: list[RackKey]) -> GroupView:
    body = await cloud.compute("GET", f"/os-server-groups/{group_id}/stockyard-placement")
    p = body["server_group_placement"]
    faults = await together(*(_fault(cloud, m) for m in p["members"]))
    members = [
        Member(
            id=m["id"],
            name=m["name"],
            status=m["status"],
            host_id=m.get("hostId") or "",
            region=m.get("region"),
            az=m.get("availability_zone"),
            rack=m.get("rack"),
            fault=fault,
        )
        for m, fault in zip(p["members"], faults, strict=True)
    ]
    return GroupView(
        id=p["id"],
        name=p["name"],
        policy=p["policy"],
        failure_domain=p["failure_domain"],
        rule_met=p["rule_met"],
        members=members,
        racks=racks,
    )


async def group_views(cloud: Cloud) -> list[GroupView]:
    """Every group the user sees, each with its members placed, by name."""
    body, racks = await together(cloud.compute("GET", "/os-server-groups"), known_racks(cloud))
    groups = sorted(body.get("server_groups", []), key=lambda g: (g.get("name") or "", g["id"]))
    return list(await together(*(group_view(cloud, g["id"], racks) for g in groups)))


def picture(group: GroupView) -> Markup:
    """The group over its failure domains (SVG): every known rack, each member on its
    host; domains that break the rule are marked ``svg-crowded``."""
    crowded = group.crowded()
    level = group.failure_domain
    tree: dict[str, dict[str, dict[str, dict[str, list[Member]]]]] = {}
    for region, az, rack in group.racks:
        tree.setdefault(region, {}).setdefault(az, {}).setdefault(rack, {})
    for m in group.placed:
        racks = tree.setdefault(str(m.region), {}).setdefault(str(m.az), {})
        racks.setdefault(str(m.rack), {}).setdefault(m.host_id, []).append(m)

    def mark(key: str, members: int) -> str:
        if key in crowded:
            return "svg-crowded"
        return "svg-used" if members else ""

    roots: list[Box] = []
    for region, azs in sorted(tree.items()):
        az_boxes: list[Box] = []
        for az, racks_of_az in sorted(azs.items()):
            rack_boxes: list[Box] = []
            for rack, hosts in sorted(racks_of_az.items()):
                host_boxes = [
                    Box(
                        label=members[0].host_label,
                        kind="host",
                        css=mark(host_id, len(members)) if level == "host" else "",
                        title=f"{members[0].host_label}: {', '.join(m.name for m in members)}",
                        data={"host": host_id},
                        lines=[(f"{m.name} ({m.status})", "svg-member") for m in members],
                    )
                    for host_id, members in sorted(hosts.items())
                ]
                count = sum(len(ms) for ms in hosts.values())
                rack_boxes.append(
                    Box(
                        label=f"rack {rack}",
                        kind="rack",
                        css=mark(f"{region}/{az}/{rack}", count) if level == "rack" else "",
                        title=f"rack {rack} in {az}: {count} member(s)",
                        data={"rack": rack, "az": az, "members": str(count)},
                        children=host_boxes,
                        lines=[] if host_boxes else [("no member", "svg-empty")],
                    )
                )
            count = sum(int(r.data["members"]) for r in rack_boxes)
            az_boxes.append(
                Box(
                    label=f"zone {az}",
                    kind="az",
                    css=mark(f"{region}/{az}", count) if level == "az" else "",
                    title=f"availability zone {az}: {count} member(s)",
                    data={"az": az, "members": str(count)},
                    children=rack_boxes,
                )
            )
        count = sum(int(a.data["members"]) for a in az_boxes)
        roots.append(
            Box(
                label=f"region {region}",
                kind="region",
                css=mark(region, count) if level == "region" else "",
                title=f"region {region}",
                data={"region": region},
                children=az_boxes,
            )
        )
    label = (
        f"Server group {group.name}: {len(group.placed)} of {len(group.members)} members "
        f"placed; rule {'met' if group.rule_met else 'not met'}"
    )
    return render(roots, label, f"group-{group.id}")
