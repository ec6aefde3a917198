"""Compute API microversion negotiation (OpenStack-API-Version: compute 2.x)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from fastapi import Request

from stockyard.api.errors import APIError

MIN_VERSION = (2, 1)
# Highest version whose behaviour Stockyard honours. 2.79 keeps os-hypervisors/statistics
# (removed in 2.88) and has server-group policy/rules (2.64) that HA groups need.
MAX_VERSION = (2, 79)


@lru_cache(maxsize=256)
def _parse(version: str) -> tuple[int, int]:
    major, minor = version.split(".")
    return int(major), int(minor)


@dataclass(frozen=True, order=True)
class APIVersion:
    major: int
    minor: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"

    def at_least(self, version: str) -> bool:
        return (self.major, self.minor) >= _parse(version)


def min_str() -> str:
    return f"{MIN_VERSION[0]}.{MIN_VERSION[1]}"


def max_str() -> str:
    return f"{MAX_VERSION[0]}.{MAX_VERSION[1]}"


def _requested(request: Request) -> str | None:
    header = request.headers.get("openstack-api-version")
    if header:
        for item in header.split(","):
            parts = item.strip().split()
            if len(parts) == 2 and parts[0].lower() == "compute":
                return parts[1]
    return request.headers.get("x-openstack-nova-api-version")


def negotiate(request: Request) -> APIVersion:
    """The version this request runs at; 406 for one outside MIN..MAX."""
    raw = _requested(request)
    if raw is None:
        return APIVersion(*MIN_VERSION)
    raw = raw.strip().lower()
    if raw == "latest":
        return APIVersion(*MAX_VERSION)
    try:
        major_s, minor_s = raw.split(".")
        version = APIVersion(int(major_s), int(minor_s))
    except ValueError:
        raise APIError(400, f"API Version String {raw} is of invalid format.") from None
    if not (APIVersion(*MIN_VERSION) <= version <= APIVersion(*MAX_VERSION)):
        raise APIError(
            406,
            f"Version {raw} is not supported by the API. Minimum is {min_str()} "
            f"and maximum is {max_str()}.",
        )
    return version
