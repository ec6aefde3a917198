"""The lab file: shipped default, validation errors that name the field, generator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from stockyard.lab.model import LabError, load_lab, make_lab, parse_lab


def minimal(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "regions": [
            {
                "name": "RegionOne",
                "cidr": "10.10.0.0/16",
                "azs": [{"name": "az1", "racks": [{"name": "r1", "hypervisors": 2}]}],
            }
        ]
    }
    data.update(overrides)
    return data


def test_shipped_lab_loads() -> None:
    lab = load_lab(None)
    hvs = lab.hypervisors()
    assert len(hvs) == 12
    assert {(h.az, h.rack) for h in hvs} == {
        (a, r) for a in ("az1", "az2") for r in "r1 r2 r3".split()
    }
    assert all(
        (h.vcpus, h.memory_mb, h.local_gb, h.hypervisor_type) == (16, 32768, 200, "fake")
        for h in hvs
    )
    assert lab.regions[0].cidr == "10.10.0.0/16"
    assert len({h.name for h in hvs}) == 12


def test_load_from_path(tmp_path: Path) -> None:
    path = tmp_path / "lab.yaml"
    path.write_text(yaml.safe_dump(minimal(baremetal={"racks": []})))
    lab = load_lab(path)
    assert [h.name for h in lab.hypervisors()] == ["regionone-az1-r1-hv01", "regionone-az1-r1-hv02"]


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d["regions"][0].update(cidr="10.10.0.1/16"), "regions.0.cidr"),
        (lambda d: d["regions"][0].update(cidr="nonsense"), "regions.0.cidr"),
        (
            lambda d: d["regions"][0]["azs"][0]["racks"][0].update(hypervisors=-1),
            "regions.0.azs.0.racks.0.hypervisors",
        ),
        (lambda d: d["regions"][0]["azs"][0].update(racks=[]), "regions.0.azs.0.racks"),
        (lambda d: d["regions"][0].update(name="bad name!"), "regions.0.name"),
        (lambda d: d.update(hypervisor_defaults={"vcpus": 0}), "hypervisor_defaults.vcpus"),
        (lambda d: d.update(fake={"boot_seconds": -1}), "fake.boot_seconds"),
        (lambda d: d.update(fake={"fail_spawn": 2.0}), "fake.fail_spawn"),
        (lambda d: d.update(typo=1), "typo"),
        (lambda d: d["regions"].append(dict(d["regions"][0])), "regions.1.name"),
    ],
)
def test_validation_errors_name_the_field(mutate: Any, field: str, tmp_path: Path) -> None:
    data = minimal()
    mutate(data)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(LabError) as exc:
        load_lab(path)
    assert str(path) in str(exc.value)
    assert field in str(exc.value)


def test_explicit_hypervisors_and_duplicate_names() -> None:
    data = minimal()
    data["regions"][0]["azs"][0]["racks"] = [
        {"name": "r1", "hypervisors": [{"name": "big", "vcpus": 64}, {"name": "small"}]},
        {"name": "r2", "hypervisors": [{"name": "big"}]},
    ]
    with pytest.raises(LabError, match="'big' is used twice"):
        parse_lab(data)
    data["regions"][0]["azs"][0]["racks"].pop()
    hvs = parse_lab(data).hypervisors()
    assert [(h.name, h.vcpus) for h in hvs] == [("big", 64), ("small", 16)]


def test_not_a_mapping_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(LabError, match="mapping"):
        parse_lab([1, 2])
    path = tmp_path / "x.yaml"
    path.write_text("regions: [")
    with pytest.raises(LabError, match="not valid YAML"):
        load_lab(path)
    with pytest.raises(LabError, match="cannot read"):
        load_lab(tmp_path / "missing.yaml")


def test_make_lab_sizes() -> None:
    lab = make_lab(regions=2, azs=3, racks=25, hosts_per_rack=40)
    hvs = lab.hypervisors()
    assert len(hvs) == 6000
    assert {r.cidr for r in lab.regions} == {"10.10.0.0/16", "10.11.0.0/16"}
    assert make_lab().regions[0].name == "RegionOne"
