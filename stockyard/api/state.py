"""What every API route can reach: settings, database, tokens, bus."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stockyard.bus.base import Bus
from stockyard.db.base import Database
from stockyard.identity.tokens import TokenService
from stockyard.settings import Settings


@dataclass
class APIState:
    settings: Settings
    db: Database
    tokens: TokenService
    bus: Bus
    # Regions known to the catalog, filled at start from the regions table.
    regions: list[str] = field(default_factory=lambda: ["RegionOne"])
    extra: dict[str, Any] = field(default_factory=dict)
