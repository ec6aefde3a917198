"""The emulated lab: regions > availability zones > racks > hypervisors, read from YAML.

A rack lists its hypervisors either as a count (names are generated,
``<region>-<az>-<rack>-hv<NN>`` in lower case) or as entries with a ``name`` and optional
overrides of ``hypervisor_defaults``. The ``baremetal`` section lists emulated BMC-backed
nodes (schema: ``stockyard.lab.baremetal_model``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from stockyard.lab.baremetal_model import BaremetalSpec

_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
DEFAULT_LAB_RESOURCE = "lab.yaml"


class LabError(ValueError):
    """The lab description is invalid; the message names the file and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HypervisorDefaults(_Strict):
    """Capacity every generated hypervisor gets unless an entry overrides it."""

    vcpus: int = Field(default=16, gt=0)
    memory_mb: int = Field(default=32768, gt=0)
    local_gb: int = Field(default=200, gt=0)
    hypervisor_type: str = Field(default="fake", min_length=1)


class HypervisorEntry(_Strict):
    """One named hypervisor of a rack; unset fields come from ``hypervisor_defaults``."""

    name: str = Field(pattern=_NAME_PATTERN, max_length=255)
    vcpus: int | None = Field(default=None, gt=0)
    memory_mb: int | None = Field(default=None, gt=0)
    local_gb: int | None = Field(default=None, gt=0)
    hypervisor_type: str | None = Field(default=None, min_length=1)
    fail_spawn: bool | float | None = None


class RackSpec(_Strict):
    name: str = Field(pattern=_NAME_PATTERN, max_length=64)
    hypervisors: int | list[HypervisorEntry] = Field(default=0)

    @field_validator("hypervisors")
    @classmethod
    def _non_negative(cls, v: int | list[HypervisorEntry]) -> int | list[HypervisorEntry]:
        if isinstance(v, int) and v < 0:
            raise ValueError("must be a count >= 0 or a list of hypervisors")
        return v


class AZSpec(_Strict):
    name: str = Field(pattern=_NAME_PATTERN, max_length=64)
    racks: list[RackSpec] = Field(min_length=1)


class RegionSpec(_Strict):
    name: str = Field(pattern=_NAME_PATTERN, max_length=64)
    description: str = ""
    cidr: str = Field(description="flat provider network of the region, e.g. 10.10.0.0/16")
    azs: list[AZSpec] = Field(min_length=1)

    @field_validator("cidr")
    @classmethod
    def _valid_cidr(cls, v: str) -> str:
        try:
            net = ipaddress.ip_network(v, strict=True)
        except ValueError as exc:
            raise ValueError(f"not a network address with prefix ({exc})") from None
        if net.num_addresses < 4:
            raise ValueError("network too small to hand out addresses")
        return str(net)


class FakeSettings(_Strict):
    """Settings of the emulated hypervisors."""

    boot_seconds: float | None = Field(
        default=None, ge=0, description="None: Settings.fake_boot_seconds"
    )
    fail_spawn: bool | float = False
    seed: int | None = None

    @field_validator("fail_spawn")
    @classmethod
    def _probability(cls, v: bool | float) -> bool | float:
        if not isinstance(v, bool) and not 0.0 <= v <= 1.0:
            raise ValueError("must be true/false or a probability between 0 and 1")
        return v


@dataclass(frozen=True, slots=True)
class LabHypervisor:
    """One hypervisor of the lab, flattened with its failure domains."""

    name: str
    region: str
    az: str
    rack: str
    vcpus: int
    memory_mb: int
    local_gb: int
    hypervisor_type: str
    fail_spawn: bool | float | None = None


class Lab(_Strict):
    """The whole lab file."""

    version: int = Field(default=1, ge=1, le=1)
    fake: FakeSettings = FakeSettings()
    hypervisor_defaults: HypervisorDefaults = HypervisorDefaults()
    regions: list[RegionSpec] = Field(min_length=1)
    baremetal: BaremetalSpec = BaremetalSpec()

    @field_validator("baremetal", mode="before")
    @classmethod
    def _no_baremetal(cls, v: Any) -> Any:
        return {} if v is None else v

    @model_validator(mode="after")
    def _unique_names(self) -> Lab:
        seen_regions: set[str] = set()
        seen_hosts: set[str] = set()
        for ri, region in enumerate(self.regions):
            if region.name in seen_regions:
                raise ValueError(f"regions.{ri}.name: duplicate region {region.name!r}")
            seen_regions.add(region.name)
            for ai, az in enumerate(region.azs):
                racks = [r.name for r in az.racks]
                for ki, rack in enumerate(racks):
                    if rack in racks[:ki]:
                        raise ValueError(
                            f"regions.{ri}.azs.{ai}.racks.{ki}.name: duplicate rack {rack!r}"
                        )
        for hv in self.hypervisors():
            if hv.name in seen_hosts:
                raise ValueError(f"hypervisor name {hv.name!r} is used twice")
            seen_hosts.add(hv.name)
        azs = {(r.name, az.name) for r in self.regions for az in r.azs}
        for ri, bm_rack in enumerate(self.baremetal.racks):
            if (bm_rack.region, bm_rack.az) not in azs:
                raise ValueError(
                    f"baremetal.racks.{ri}: AZ {bm_rack.az!r} of region {bm_rack.region!r} "
                    "is not in regions"
                )
        for node in self.baremetal.iter_nodes():
            if node.name in seen_hosts:
                raise ValueError(f"baremetal node name {node.name!r} is used twice")
            seen_hosts.add(node.name)
        return self

    def iter_hypervisors(self) -> Iterator[LabHypervisor]:
        """Every hypervisor in file order."""
        d = self.hypervisor_defaults
        for region in self.regions:
            for az in region.azs:
                for rack in az.racks:
                    if isinstance(rack.hypervisors, int):
                        prefix = f"{region.name}-{az.name}-{rack.name}".lower()
                        for i in range(1, rack.hypervisors + 1):
                            yield LabHypervisor(
                                f"{prefix}-hv{i:02d}", region.name, az.name, rack.name,
                                d.vcpus, d.memory_mb, d.local_gb, d.hypervisor_type,
                            )  # fmt: skip
                        continue
                    for e in rack.hypervisors:
                        yield LabHypervisor(
                            name=e.name,
                            region=region.name,
                            az=az.name,
                            rack=rack.name,
                            vcpus=e.vcpus or d.vcpus,
                            memory_mb=e.memory_mb or d.memory_mb,
                            local_gb=e.local_gb or d.local_gb,
                            hypervisor_type=e.hypervisor_type or d.hypervisor_type,
                            fail_spawn=e.fail_spawn,
                        )

    def hypervisors(self) -> list[LabHypervisor]:
        """Every hypervisor in file order."""
        return list(self.iter_hypervisors())


def _format_errors(source: str, exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"{loc}: {msg}")
    return f"{source}: invalid lab: " + "; ".join(lines)


def parse_lab(data: Any, source: str = "lab") -> Lab:
    """Validate an already-parsed mapping; ``LabError`` names ``source`` and the field."""
    if not isinstance(data, dict):
        raise LabError(f"{source}: a lab file must hold a mapping at the top level")
    try:
        return Lab.model_validate(data)
    except ValidationError as exc:
        raise LabError(_format_errors(source, exc)) from exc


def load_lab(path: Path | None = None) -> Lab:
    """Read and validate a lab file; ``None`` reads the lab shipped with Stockyard."""
    if path is None:
        text = resources.files("stockyard.lab").joinpath(DEFAULT_LAB_RESOURCE).read_text()
        source = f"stockyard/lab/{DEFAULT_LAB_RESOURCE}"
    else:
        try:
            text = path.read_text()
        except OSError as exc:
            raise LabError(f"{path}: cannot read lab file ({exc.strerror})") from exc
        source = str(path)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise LabError(f"{source}: not valid YAML ({exc})") from exc
    return parse_lab(data, source)


def _region_names(regions: int | Sequence[str]) -> list[str]:
    if not isinstance(regions, int):
        return list(regions)
    if regions == 1:
        return ["RegionOne"]
    return [f"Region{i}" for i in range(1, regions + 1)]


def make_lab(
    regions: int | Sequence[str] = 1,
    azs: int = 2,
    racks: int = 3,
    hosts_per_rack: int = 2,
    *,
    vcpus: int = 16,
    memory_mb: int = 32768,
    local_gb: int = 200,
    boot_seconds: float | None = None,
    fail_spawn: bool | float = False,
    seed: int | None = None,
) -> Lab:
    """A regular lab for tests and benchmarks (e.g. 2 x 3 x 25 x 40 = 6,000 hypervisors).

    Regions get the networks 10.10.0.0/16, 10.11.0.0/16, ...; AZs are ``az1..``, racks
    ``r1..``.
    """
    names = _region_names(regions)
    data = {
        "fake": {"boot_seconds": boot_seconds, "fail_spawn": fail_spawn, "seed": seed},
        "hypervisor_defaults": {"vcpus": vcpus, "memory_mb": memory_mb, "local_gb": local_gb},
        "regions": [
            {
                "name": name,
                "cidr": f"10.{10 + ri}.0.0/16",
                "azs": [
                    {
                        "name": f"az{a}",
                        "racks": [
                            {"name": f"r{r}", "hypervisors": hosts_per_rack}
                            for r in range(1, racks + 1)
                        ],
                    }
                    for a in range(1, azs + 1)
                ],
            }
            for ri, name in enumerate(names)
        ],
    }
    return parse_lab(data, "make_lab")
