"""Compute agents and the drivers they run (see ``drivers/base.py`` for the contract)."""

from stockyard.compute.agent import ComputeAgent
from stockyard.compute.pool import AgentPool

__all__ = ["AgentPool", "ComputeAgent"]
