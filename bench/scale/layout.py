"""The simulated cloud, as rows: regions, racks, hosts, aggregates, flavors, server groups,
instances and their allocations. Pure Python, deterministic for a seed; no database.

Shape (full scale, the issue's "Verda" figures): 3 regions x 3 AZs x 100 racks; 7,600
hypervisors and 46,000 baremetal nodes spread round-robin over the 900 racks; 100,000
instances (80 % VMs, 20 % baremetal) in 50 projects; 20,000 server groups of 2-4
members (about 60 % of the instances), three in four hard anti-affinity over racks and
the rest soft anti-affinity. Members of every group sit on distinct racks of one AZ, VM
sizes keep hypervisors well under their limits, and a baremetal instance takes a whole
free node of its project's stock, so the scheduler sees a loaded but not full cloud.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from stockyard.failure_domains import RackId, rack_metadata

REGIONS = ("RegionOne", "RegionTwo", "RegionThree")
AZS_PER_REGION = 3
RESOURCE_CLASSES = ("BM_GOLD", "BM_SILVER", "BM_GPU")
HV = {"vcpus": 64, "memory_mb": 524288, "local_gb": 4000, "cpu_allocation_ratio": 4.0}
BM = {"vcpus": 48, "memory_mb": 196608, "local_gb": 960, "cpu_allocation_ratio": 1.0}
# (flavorid, name, vcpus, ram, disk, extra specs): the seeded m1.* plus scale.* below.
FlavorRow = tuple[str, str, int, int, int, dict[str, str]]
VM_FLAVORS: tuple[FlavorRow, ...] = (
    ("2", "m1.small", 1, 2048, 20, {}),
    ("3", "m1.medium", 2, 4096, 40, {}),
    ("4", "m1.large", 4, 8192, 80, {}),
    ("scale-ssd", "scale.ssd", 4, 8192, 80, {"aggregate_instance_extra_specs:ssd": "true"}),
)
BM_FLAVORS: tuple[FlavorRow, ...] = tuple(
    (f"scale-{rc.lower()}", f"bm.{rc.lower()}", 48, 196608, 960, {f"resources:CUSTOM_{rc}": "1"})
    for rc in RESOURCE_CLASSES
)
NEW_FLAVORS = (VM_FLAVORS[3], *BM_FLAVORS)  # the m1.* ones are seeded already
EPOCH = datetime(2026, 1, 1)


@dataclass(frozen=True)
class Scale:
    """How big a cloud to make (defaults: full scale)."""

    hypervisors: int = 7600
    nodes: int = 46000
    instances: int = 100000
    groups: int = 20000
    racks: int = 900
    projects: int = 50
    seed: int = 1

    def scaled(self, factor: float) -> Scale:
        """Every count times ``factor`` (racks too, at least one per AZ)."""
        n_az = len(REGIONS) * AZS_PER_REGION
        return Scale(
            hypervisors=max(1, int(self.hypervisors * factor)),
            nodes=max(1, int(self.nodes * factor)),
            instances=max(1, int(self.instances * factor)),
            groups=max(1, int(self.groups * factor)),
            racks=max(n_az, int(self.racks * factor)),
            projects=self.projects,
            seed=self.seed,
        )


@dataclass
class Layout:
    """Rows per table (column name -> value); ids are explicit so rows can refer to them."""

    racks: list[RackId] = field(default_factory=list)
    regions: list[dict[str, Any]] = field(default_factory=list)
    hosts: list[dict[str, Any]] = field(default_factory=list)
    aggregates: list[dict[str, Any]] = field(default_factory=list)
    aggregate_hosts: list[dict[str, Any]] = field(default_factory=list)
    server_groups: list[dict[str, Any]] = field(default_factory=list)
    server_group_members: list[dict[str, Any]] = field(default_factory=list)
    instances: list[dict[str, Any]] = field(default_factory=list)
    allocations: list[dict[str, Any]] = field(default_factory=list)

    def tables(self) -> list[tuple[str, list[dict[str, Any]]]]:
        """(table, rows) in an order that satisfies the foreign keys."""
        return [
            ("regions", self.regions),
            ("hosts", self.hosts),
            ("aggregates", self.aggregates),
            ("aggregate_hosts", self.aggregate_hosts),
            ("server_groups", self.server_groups),
            ("server_group_members", self.server_group_members),
            ("instances", self.instances),
            ("allocations", self.allocations),
        ]


def azs() -> list[tuple[str, str]]:
    """(region, az) of every AZ, AZ names unique across regions (az1..az9)."""
    return [(r, f"az{i * AZS_PER_REGION + k + 1}") for i, r in enumerate(REGIONS)
            for k in range(AZS_PER_REGION)]  # fmt: skip


def build(scale: Scale, projects: list[str], users: dict[str, str], now: datetime) -> Layout:
    """The whole cloud. ``projects`` are project ids (the first ones real, e.g. admin's);
    ``users`` maps a project id to the user id its instances belong to."""
    return _Builder(scale, projects, users, now).run()


class _Builder:
    def __init__(
        self, scale: Scale, projects: list[str], users: dict[str, str], now: datetime
    ) -> None:
        self.s = scale
        self.rng = random.Random(scale.seed)
        self.projects = projects
        self.users = users
        self.now = now
        self.out = Layout()
        zones = azs()
        self.zone_of_rack = [zones[r * len(zones) // scale.racks] for r in range(scale.racks)]
        # VM placement: AZ -> rack index -> hypervisor row indexes.
        self.hv_by_rack: dict[str, dict[int, list[int]]] = {}
        # Baremetal placement: (project, AZ) -> rack index -> free node row indexes.
        self.free: dict[tuple[str, str], dict[int, list[int]]] = {}

    def run(self) -> Layout:
        self._racks_and_hosts()
        self._aggregates()
        self._groups_and_instances()
        return self.out

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _racks_and_hosts(self) -> None:
        out = self.out
        for i, region in enumerate(REGIONS):
            out.regions.append({"id": region, "description": "", "cidr": f"10.{100 + i}.0.0/16"})
        out.racks = [RackId(reg, az, f"rack{r + 1:03d}") for r, (reg, az) in
                     enumerate(self.zone_of_rack)]  # fmt: skip
        for i in range(self.s.hypervisors):
            r = i % self.s.racks
            row = self._host(f"hv{i:05d}", "vm", r, HV, None, None)
            self.hv_by_rack.setdefault(row["az"], {}).setdefault(r, []).append(len(out.hosts))
            out.hosts.append(row)
        for j in range(self.s.nodes):
            r = j % self.s.racks
            owner = self.projects[(j // 7) % len(self.projects)]
            rc = RESOURCE_CLASSES[j % len(RESOURCE_CLASSES)]
            row = self._host(f"bm{j:05d}", "baremetal", r, BM, rc, owner)
            self.free.setdefault((owner, row["az"]), {}).setdefault(r, []).append(len(out.hosts))
            out.hosts.append(row)

    def _host(
        self, name: str, kind: str, r: int, spec: dict[str, Any], rc: str | None, owner: str | None
    ) -> dict[str, Any]:
        rack = self.out.racks[r]
        n = len(self.out.hosts) + 1
        return {
            "id": n, "uuid": self._uuid(), "name": name, "kind": kind,
            "hypervisor_type": "fake" if kind == "vm" else "ironic",
            "region": rack.region, "az": rack.az, "rack": rack.rack,
            "host_ip": f"10.{n // 65536}.{n // 256 % 256}.{n % 256}",
            "resource_class": rc, "owner_project": owner, **spec,
            "vcpus_used": 0, "memory_mb_used": 0, "local_gb_used": 0, "running_vms": 0,
            "last_seen": self.now, "created_at": EPOCH,
        }  # fmt: skip

    def _aggregates(self) -> None:
        out = self.out
        for r, rack in enumerate(out.racks):
            out.aggregates.append({
                "id": r + 1, "uuid": self._uuid(), "name": rack.label(),
                "availability_zone": rack.az, "metadata": rack_metadata(rack),
                "created_at": EPOCH,
            })  # fmt: skip
        ssd = len(out.aggregates) + 1
        out.aggregates.append({"id": ssd, "uuid": self._uuid(), "name": "ssd",
                               "availability_zone": None, "metadata": {"ssd": "true"},
                               "created_at": EPOCH})  # fmt: skip
        rack_index = {rack: r for r, rack in enumerate(out.racks)}
        for h in out.hosts:
            rack_agg = rack_index[RackId(h["region"], h["az"], h["rack"])] + 1
            out.aggregate_hosts.append({"aggregate_id": rack_agg, "host_name": h["name"]})
            # Every fourth hypervisor has SSDs (the ``ssd`` extra spec of scale.ssd).
            if h["kind"] == "vm" and h["id"] % 4 == 0:
                out.aggregate_hosts.append({"aggregate_id": ssd, "host_name": h["name"]})
        for i, row in enumerate(out.aggregate_hosts):
            row["id"] = i + 1

    def _groups_and_instances(self) -> None:
        n_bm = self.s.instances // 5 if self.s.nodes else 0
        budget = {"vm": self.s.instances - n_bm, "baremetal": n_bm}
        # Groups take about 60 % of each kind; the rest are single instances.
        grouped = {k: int(v * 0.6) for k, v in budget.items()}
        for g in range(self.s.groups):
            kind = "baremetal" if g % 4 == 0 and grouped["baremetal"] > 0 else "vm"
            size = min(2 + g % 3, grouped[kind])
            if size <= 0:
                self._group(g, kind, [])
                continue
            placed = self._place_group(g, kind, size)
            grouped[kind] -= len(placed)
            budget[kind] -= len(placed)
        for kind, left in budget.items():
            for _ in range(left):
                if not self._place_single(kind):
                    break

    def _group(self, g: int, kind: str, members: list[str]) -> dict[str, Any]:
        project = self.projects[g % len(self.projects)]
        hard = g % 4 != 3
        row = {
            "id": g + 1, "uuid": self._uuid(), "name": f"{kind}-group-{g}",
            "project_id": project, "user_id": self.users.get(project, "scale-user"),
            "policy": "anti-affinity" if hard else "soft-anti-affinity",
            "rules": {"failure_domain": "rack"} if hard else {}, "generation": 0,
            "created_at": EPOCH,
        }  # fmt: skip
        self.out.server_groups.append(row)
        return row

    def _place_group(self, g: int, kind: str, size: int) -> list[str]:
        group = self._group(g, kind, [])
        project = group["project_id"]
        zones = azs()
        start = self.rng.randrange(len(zones))
        for k in range(len(zones)):  # the first AZ with enough racks for every member
            az = zones[(start + k) % len(zones)][1]
            pool = self.free.get((project, az), {}) if kind == "baremetal" else (
                self.hv_by_rack.get(az, {}))  # fmt: skip
            racks = [r for r, hosts in pool.items() if hosts]
            if len(racks) >= size:
                break
        else:
            return []
        placed = []
        for r in self.rng.sample(racks, size):
            uuid_ = self._instance(kind, project, pool, r, group)
            placed.append(uuid_)
            self.out.server_group_members.append({
                "id": len(self.out.server_group_members) + 1, "group_id": group["id"],
                "instance_uuid": uuid_,
            })  # fmt: skip
        return placed

    def _place_single(self, kind: str) -> bool:
        zones = azs()
        for _ in range(50):
            project = self.rng.choice(self.projects)
            az = self.rng.choice(zones)[1]
            pool = self.free.get((project, az), {}) if kind == "baremetal" else (
                self.hv_by_rack.get(az, {}))  # fmt: skip
            racks = [r for r, hosts in pool.items() if hosts]
            if racks:
                self._instance(kind, project, pool, self.rng.choice(racks), None)
                return True
        return False

    def _instance(
        self,
        kind: str,
        project: str,
        pool: dict[int, list[int]],
        r: int,
        group: dict[str, Any] | None,
    ) -> str:
        out = self.out
        if kind == "baremetal":
            host = out.hosts[pool[r].pop(self.rng.randrange(len(pool[r])))]
            fid, fname, vcpus, ram, disk, extra = BM_FLAVORS[
                RESOURCE_CLASSES.index(host["resource_class"])
            ]
            # A whole-node claim holds the node's every resource (``Claim.whole_node``).
            use = (host["vcpus"], host["memory_mb"], host["local_gb"])
        else:
            host = out.hosts[self.rng.choice(pool[r])]
            fid, fname, vcpus, ram, disk, extra = self.rng.choice(VM_FLAVORS[:3])
            if host["id"] % 4 == 0 and self.rng.random() < 0.3:
                fid, fname, vcpus, ram, disk, extra = VM_FLAVORS[3]
            use = (vcpus, ram, disk)
        host["vcpus_used"] += use[0]
        host["memory_mb_used"] += use[1]
        host["local_gb_used"] += use[2]
        host["running_vms"] += 1
        n = len(out.instances) + 1
        created = EPOCH + timedelta(seconds=n * 60 + self.rng.randrange(60))
        uuid_ = self._uuid()
        out.instances.append({
            "id": n, "uuid": uuid_, "name": f"{fname}-{n}", "hostname": f"{fname}-{n}".replace(
                ".", "-"), "project_id": project,
            "user_id": self.users.get(project, "scale-user"), "flavor_id": fid,
            "flavor": {"id": fid, "name": fname, "vcpus": vcpus, "ram": ram, "disk": disk,
                       "ephemeral": 0, "swap": 0, "extra_specs": dict(extra)},
            "vcpus": vcpus, "memory_mb": ram,
            "vm_state": "active", "task_state": None, "power_state": 1,
            "host": host["name"], "node": host["name"], "region": host["region"],
            "availability_zone": host["az"], "rack": host["rack"],
            "requested_az": host["az"] if n % 3 == 0 else None,
            "group_uuid": group["uuid"] if group else None, "requested_networks": [],
            "metadata": {"tier": f"t{n % 3}"}, "tags": [], "reservation_id": f"r-{n:08x}",
            "launched_at": created + timedelta(seconds=30), "created_at": created,
            "updated_at": created + timedelta(seconds=30),
        })  # fmt: skip
        out.allocations.append({
            "instance_uuid": uuid_, "host_id": host["id"], "vcpus": use[0],
            "memory_mb": use[1], "disk_gb": use[2], "created_at": created,
        })  # fmt: skip
        if kind == "vm" and not _fits_again(host):
            pool[r].remove(host["id"] - 1)  # rare: the hypervisor is nearly full
        if not pool[r]:
            del pool[r]
        return uuid_


def _fits_again(host: dict[str, Any]) -> bool:
    """Room for the largest VM flavor once more."""
    return bool(
        host["vcpus_used"] + 4 <= host["vcpus"] * host["cpu_allocation_ratio"]
        and host["memory_mb_used"] + 8192 <= host["memory_mb"]
        and host["local_gb_used"] + 80 <= host["local_gb"]
    )
