"""Version discovery and the extensions list at the root of the network endpoint."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from stockyard.api.deps import Ctx, StateDep
from stockyard.api.network.errors import NeutronRoute
from stockyard.network.errors import NotFound

router = APIRouter(route_class=NeutronRoute)

# (alias, name, description, updated) of each extension Stockyard implements, as
# neutron-lib's API definitions spell them.
EXTENSIONS = (
    (
        "availability_zone",
        "Availability Zone",
        "The availability zone extension.",
        "2015-01-01T10:00:00-00:00",
    ),
    (
        "binding",
        "Port Binding",
        "Expose port bindings of a virtual port to external application",
        "2014-02-03T10:00:00-00:00",
    ),
    (
        "external-net",
        "Neutron external network",
        "Adds external network attribute to network resource.",
        "2013-01-14T10:00:00-00:00",
    ),
    (
        "ip-substring-filtering",
        "IP address substring filtering",
        "Provides IP address substring filtering when listing ports",
        "2017-11-28T09:00:00-00:00",
    ),
    (
        "net-mtu",
        "Network MTU",
        "Provides MTU attribute for a network resource.",
        "2015-03-25T10:00:00-00:00",
    ),
    (
        "net-mtu-writable",
        "Network MTU (writable)",
        "Provides a writable MTU attribute for a network resource.",
        "2017-07-12T00:00:00-00:00",
    ),
    (
        "network_availability_zone",
        "Network Availability Zone",
        "Availability zone support for network.",
        "2015-01-01T10:00:00-00:00",
    ),
    (
        "pagination",
        "Pagination support",
        "Extension that indicates that pagination is enabled.",
        "2016-06-12T00:00:00-00:00",
    ),
    ("port-security", "Port Security", "Provides port security", "2012-07-23T10:00:00-00:00"),
    (
        "project-id",
        "project_id field enabled",
        "Extension that indicates that project_id field is enabled.",
        "2016-09-09T09:09:09-09:09",
    ),
    (
        "provider",
        "Provider Network",
        "Expose mapping of virtual networks to physical networks",
        "2012-09-07T10:00:00-00:00",
    ),
    (
        "quotas",
        "Quota management support",
        "Expose functions for quotas management per tenant",
        "2012-07-29T10:00:00-00:00",
    ),
    (
        "quota-check-limit",
        "Quota engine limit check",
        "Support for checking the resource usage before applying a new quota limit",
        "2023-01-06T10:00:00-00:00",
    ),
    (
        "quota_details",
        "Quota details management support",
        "Expose functions for quotas usage statistics per project",
        "2017-02-10T10:00:00-00:00",
    ),
    (
        "security-group",
        "security-group",
        "The security groups extension.",
        "2012-10-05T10:00:00-00:00",
    ),
    (
        "sorting",
        "Sorting support",
        "Extension that indicates that sorting is enabled.",
        "2016-06-12T00:00:00-00:00",
    ),
    (
        "standard-attr-description",
        "standard-attr-description",
        "Extension to add descriptions to standard attributes",
        "2016-02-10T10:00:00-00:00",
    ),
    (
        "standard-attr-revisions",
        "Resource revision numbers",
        "This extension will display the revision number of neutron resources.",
        "2016-04-11T10:00:00-00:00",
    ),
    (
        "standard-attr-timestamp",
        "Resource timestamps",
        "Adds created_at and updated_at fields to all Neutron resources that have Neutron "
        "standard attributes.",
        "2016-09-12T10:00:00-00:00",
    ),
)
RESOURCES = ("network", "subnet", "port", "security_group", "security_group_rule", "quota")


def _extension(alias: str, name: str, description: str, updated: str) -> dict[str, Any]:
    return {
        "alias": alias,
        "name": name,
        "description": description,
        "updated": updated,
        "links": [],
    }


async def root(state: StateDep) -> dict[str, Any]:
    """The versions document, as Neutron's root answers it (200, one version)."""
    href = f"{state.settings.base_url}/network/v2.0/"
    return {
        "versions": [{"id": "v2.0", "status": "CURRENT", "links": [{"rel": "self", "href": href}]}]
    }


router.add_api_route("/", root, methods=["GET"], include_in_schema=False)


@router.get("/v2.0")
@router.get("/v2.0/")
async def resources(state: StateDep, ctx: Ctx) -> dict[str, Any]:
    base = f"{state.settings.base_url}/network/v2.0"
    return {
        "resources": [
            {"name": name, "collection": f"{name}s" if name != "quota" else "quotas",
             "links": [{"rel": "self", "href": f"{base}/{name}s"}]}
            for name in RESOURCES
        ]
    }  # fmt: skip


@router.get("/v2.0/extensions")
async def extensions(ctx: Ctx) -> dict[str, Any]:
    return {"extensions": [_extension(*e) for e in EXTENSIONS]}


@router.get("/v2.0/extensions/{alias}")
async def extension(alias: str, ctx: Ctx) -> dict[str, Any]:
    for entry in EXTENSIONS:
        if entry[0] == alias:
            return {"extension": _extension(*entry)}
    raise NotFound(f"Extension with alias {alias} does not exist", type="HTTPNotFound")
