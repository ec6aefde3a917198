"""The emulated lab: a YAML description of regions, AZs, racks and hypervisors."""

from stockyard.lab.model import Lab, LabError, LabHypervisor, load_lab, make_lab, parse_lab

__all__ = ["Lab", "LabError", "LabHypervisor", "load_lab", "make_lab", "parse_lab"]
