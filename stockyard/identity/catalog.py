"""The service catalog: one builder for token bodies and the services/endpoints lists.

The catalog is derived, not stored: every service lives under a path prefix of the one
API base URL, once per region. Ids are stable hashes so that ``openstack endpoint show``
keeps working across restarts and API processes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

INTERFACES = ("public", "internal", "admin")


@dataclass(frozen=True)
class ServiceDef:
    """One service of the cloud and where it lives under the base URL."""

    type: str
    name: str
    path: str
    description: str


SERVICES = (
    ServiceDef("identity", "keystone", "/identity", "Identity service (Keystone v3)"),
    ServiceDef("compute", "nova", "/compute/v2.1", "Compute service (Nova v2.1)"),
    ServiceDef("image", "glance", "/image", "Image service (Glance v2)"),
    ServiceDef("network", "neutron", "/network", "Networking service (Neutron v2.0)"),
    ServiceDef("block-storage", "cinder", "/volume/v3", "Block Storage service (Cinder v3)"),
    ServiceDef("volumev3", "cinderv3", "/volume/v3", "Block Storage service (Cinder v3)"),
    ServiceDef("baremetal-stock", "stockyard-stock", "/stock/v1", "Baremetal stock (Stockyard)"),
)


def _stable_id(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:32]


def service_id(service: ServiceDef) -> str:
    return _stable_id("service", service.type)


def endpoint_id(service: ServiceDef, region: str, interface: str) -> str:
    return _stable_id("endpoint", service.type, region, interface)


@dataclass(frozen=True)
class Endpoint:
    id: str
    service: ServiceDef
    region: str
    interface: str
    url: str


def endpoints(base_url: str, regions: list[str]) -> list[Endpoint]:
    """Every endpoint: each service x region x interface."""
    base = base_url.rstrip("/")
    return [
        Endpoint(endpoint_id(svc, region, iface), svc, region, iface, base + svc.path)
        for svc in SERVICES
        for region in regions
        for iface in INTERFACES
    ]


def token_catalog(base_url: str, regions: list[str]) -> list[dict[str, Any]]:
    """The ``catalog`` of a scoped token, as Keystone renders it."""
    by_type: dict[str, list[dict[str, Any]]] = {svc.type: [] for svc in SERVICES}
    for ep in endpoints(base_url, regions):
        by_type[ep.service.type].append(
            {
                "id": ep.id,
                "interface": ep.interface,
                "region": ep.region,
                "region_id": ep.region,
                "url": ep.url,
            }
        )
    return [
        {"id": service_id(svc), "type": svc.type, "name": svc.name, "endpoints": by_type[svc.type]}
        for svc in SERVICES
    ]
