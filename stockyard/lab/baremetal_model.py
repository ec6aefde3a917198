"""The ``baremetal:`` section of the lab file: BMC-backed nodes, their classes and stock.

```yaml
baremetal:
  install_seconds: 0.2        # how long the emulated installer "writes" the disk
  redfish_power_delay: 0      # whole seconds the Redfish emulator takes to apply power
  classes:                    # resource classes and the inventory of their nodes
    BM_GOLD: {cpus: 32, memory_mb: 131072, disk_gb: 960}
  racks:
    - region: RegionOne
      az: az1
      rack: r1
      nodes:
        - {resource_class: BM_GOLD, count: 2, bmc: redfish, stock: demo}
        - {resource_class: BM_GOLD, count: 1, bmc: ipmi}        # unassigned pool
```

Node names are ``<region>-<az>-<rack>-bm<NN>`` in lower case, numbered per rack. ``stock``
names the project that owns the nodes when they are first enrolled; afterwards the stock
API owns that assignment (a restart never takes nodes back).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NodeClass(_Strict):
    """Inventory every node of a resource class has (a flavor of the class asks for it)."""

    cpus: int = Field(gt=0)
    memory_mb: int = Field(gt=0)
    disk_gb: int = Field(gt=0)


class NodeGroup(_Strict):
    """``count`` alike nodes of a rack."""

    resource_class: str = Field(pattern=r"^[A-Z0-9_]+$", max_length=64)
    count: int = Field(default=1, ge=0, le=10_000)
    bmc: Literal["redfish", "ipmi"] = "redfish"
    stock: str | None = Field(default=None, min_length=1, description="owner project name")


class BaremetalRack(_Strict):
    region: str = Field(pattern=_NAME, max_length=64)
    az: str = Field(pattern=_NAME, max_length=64)
    rack: str = Field(pattern=_NAME, max_length=64)
    nodes: list[NodeGroup] = Field(default_factory=list)


@dataclass(frozen=True, slots=True)
class LabNode:
    """One baremetal node of the lab, flattened with its failure domains."""

    name: str
    region: str
    az: str
    rack: str
    resource_class: str
    bmc: Literal["redfish", "ipmi"]
    cpus: int
    memory_mb: int
    disk_gb: int
    stock: str | None
    mac: str


class BaremetalSpec(_Strict):
    """The whole ``baremetal:`` section."""

    install_seconds: float = Field(default=0.2, ge=0)
    redfish_power_delay: int = Field(default=0, ge=0, le=30)
    classes: dict[str, NodeClass] = Field(default_factory=dict)
    racks: list[BaremetalRack] = Field(default_factory=list)

    @model_validator(mode="after")
    def _known_classes(self) -> BaremetalSpec:
        seen: set[tuple[str, str, str]] = set()
        for ri, rack in enumerate(self.racks):
            key = (rack.region, rack.az, rack.rack)
            if key in seen:
                raise ValueError(f"baremetal.racks.{ri}: rack {'/'.join(key)} listed twice")
            seen.add(key)
            for gi, group in enumerate(rack.nodes):
                if group.resource_class not in self.classes:
                    raise ValueError(
                        f"baremetal.racks.{ri}.nodes.{gi}.resource_class: "
                        f"{group.resource_class!r} is not in baremetal.classes"
                    )
        return self

    def iter_nodes(self) -> Iterator[LabNode]:
        """Every node in file order."""
        index = 0
        for rack in self.racks:
            prefix = f"{rack.region}-{rack.az}-{rack.rack}".lower()
            number = 0
            for group in rack.nodes:
                inv = self.classes[group.resource_class]
                for _ in range(group.count):
                    number += 1
                    index += 1
                    yield LabNode(
                        name=f"{prefix}-bm{number:02d}",
                        region=rack.region,
                        az=rack.az,
                        rack=rack.rack,
                        resource_class=group.resource_class,
                        bmc=group.bmc,
                        cpus=inv.cpus,
                        memory_mb=inv.memory_mb,
                        disk_gb=inv.disk_gb,
                        stock=group.stock,
                        mac="52:54:01:{:02x}:{:02x}:{:02x}".format(
                            *((index >> s) & 0xFF for s in (16, 8, 0))
                        ),
                    )

    def nodes(self) -> list[LabNode]:
        return list(self.iter_nodes())
