"""Compute API microversion negotiation (OpenStack-API-Version: compute 2.x)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from fastapi import Request

from stockyard.api.errors import APIError

MIN_VERSION = (2, 1)
# Highest version whose behaviour Stockyard honours: every microversion up to it is
# implemented, or changes only an API Stockyard has in no microversion at all (volume
# attachments 2.85/2.89/2.93, rescue 2.87, shelve 2.91, evacuate 2.95).
MAX_VERSION = (2, 96)
#   2.80  os-migrations: user_id/project_id filters (and fields; the list is empty, nothing
#         migrates); servers/{id}/migrations: no live migration, no route, nothing to do
#   2.81  POST /os-aggregates/{id}/images: each host's agent fetches the images into its
#         driver's image cache (libvirt: the base-image cache; baremetal: unsupported, logged)
#   2.82  os-server-external-events: "accelerator-request-bound" (tag required); with no
#         accelerators nothing waits for it, as Nova's compute for a server without ARQs
#   2.83  non-admin server list filters (availability_zone, config_drive, key_name,
#         created_at, launched_at, terminated_at, power_state, task_state, vm_state,
#         progress, user_id): ignored for users before, applied from it (server_filters)
#   2.84  os-instance-actions events: "details" (the fault message of a failed step)
#   2.85  PUT servers/{id}/os-volume_attachments/{vol} updates delete_on_termination
#         (volume_attachments; swap stays 403 for members, 409 for admins)
#   2.86  flavor extra spec validation (flavor_spec_rules: what is and is not checked)
#   2.87  rescue of volume-backed servers: nothing to do, no rescue action in any version
#   2.88  os-hypervisors: capacity fields (vcpus*, memory_mb*, local_gb*, free_*,
#         running_vms, current_workload, disk_available_least, cpu_info) gone from
#         detail/show, uptime in show; /statistics and /{id}/uptime 404 (/{p}/search and
#         /{p}/servers are 404 from 2.53 already)
#   2.89  os-volume_attachments show/list: attachment_id and bdm_uuid instead of id
#   2.90  "hostname" on server create/update/rebuild; OS-EXT-SRV-ATTR:hostname to users
#         (server_hostname)
#   2.91  unshelve to a host or availability_zone null: nothing to do, no shelve/unshelve
#   2.92  os-keypairs: public_key required (no server-side generation), '@' in names
#   2.93  rebuild of volume-backed servers with a new image (reimage of the root
#         volume): not served; a volume-backed server rebuilds only from the image its
#         root volume was made from, at every version (400 otherwise, Nova's pre-2.93
#         refusal)
#   2.94  hostname may be an FQDN
#   2.95  evacuate leaves the server stopped: nothing to do, no evacuate in any version
#   2.96  server show/detail/update/rebuild: "pinned_availability_zone" (the zone asked
#         for at create, the one the scheduler is held to; null when none)
# 2.96 is Nova 2024.1's maximum. 2.97 and later (Nova 2024.2 onwards) were not examined:
# each needs its own entry and work here before the max goes past 2.96.
# tests/compute_api/test_versions.py checks that no code asks for a version above this.


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
