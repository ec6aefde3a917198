"""``/extensions``: Nova's fixed list of API extension descriptors (v2.1 still serves it).

Nova lists every descriptor it ever had, even for APIs it has since removed. Stockyard
lists only what it serves: a descriptor whose API is a resource names one of its paths,
and is listed only while the application routes that path (its OpenAPI document has
it), so ``os-hosts`` appears once its router is in and never for an empty slot. The
server actions' descriptors name the action route, which exists only with the servers
module. Descriptors of fields and request options of servers and flavors have no path
of their own; their code is in this package (``server_views``, ``server_schemas``,
``flavors``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from stockyard.api.deps import ProjectCtx
from stockyard.api.errors import APIError
from stockyard.api.extension_list import Extension
from stockyard.api.extension_list import served as served_of

router = APIRouter()

# Nova's v2.1 descriptors all carry these two values.
_NAMESPACE = "http://docs.openstack.org/compute/ext/fake_xml"
_UPDATED = "2014-12-03T00:00:00Z"
_PREFIX = "/compute/v2.1"


# Nova's names and descriptions, sorted by alias as Nova's list is.
EXTENSIONS: tuple[Extension, ...] = (
    Extension("OS-DCF", "DiskConfig", "Disk Management Extension."),
    Extension("OS-EXT-AZ", "ExtendedAvailabilityZone", "Extended Availability Zone support."),
    Extension("OS-EXT-IPS", "ExtendedIps", "Adds type parameter to the ip list."),
    Extension("OS-EXT-IPS-MAC", "ExtendedIpsMac", "Adds mac address parameter to the ip list."),
    Extension("OS-EXT-SRV-ATTR", "ExtendedServerAttributes", "Extended Server Attributes support."),
    Extension("OS-EXT-STS", "ExtendedStatus", "Extended Status support."),
    Extension(
        "OS-FLV-DISABLED", "FlavorDisabled", "Support to show the disabled status of a flavor."
    ),
    Extension("OS-FLV-EXT-DATA", "FlavorExtraData", "Provide additional data for flavors."),
    Extension("OS-SCH-HNT", "SchedulerHints", "Pass arbitrary key/value pairs to the scheduler."),
    Extension("OS-SRV-USG", "ServerUsage", "Adds launched_at and terminated_at on Servers."),
    Extension("os-access-ips", "AccessIPs", "Access IPs support."),
    Extension(
        "os-admin-actions",
        "AdminActions",
        "Enable admin-only server actions\n\n    Actions include: os-resetState\n    ",
        "/servers/{server_id}/action",
    ),
    Extension(
        "os-aggregates", "Aggregates", "Admin-only aggregate administration.", "/os-aggregates"
    ),
    Extension(
        "os-availability-zone",
        "AvailabilityZone",
        "1. Add availability_zone to the Create Server API.\n"
        "       2. Add availability zones describing.\n    ",
        "/os-availability-zone",
    ),
    Extension(
        "os-console-output",
        "ConsoleOutput",
        "Console log output support, with tailing ability.",
        "/servers/{server_id}/action",
    ),
    Extension("os-extended-status", "ExtendedStatus", "Extended Status support."),
    Extension(
        "os-flavor-access",
        "FlavorAccess",
        "Flavor access support.",
        "/flavors/{flavor_id}/os-flavor-access",
    ),
    Extension(
        "os-flavor-extra-specs",
        "FlavorExtraSpecs",
        "Flavors extra specs support.",
        "/flavors/{flavor_id}/os-extra_specs",
    ),
    Extension("os-flavor-manage", "FlavorManage", "Flavor create/delete API support.", "/flavors"),
    Extension("os-hosts", "Hosts", "Admin-only host administration.", "/os-hosts"),
    Extension(
        "os-hypervisors", "Hypervisors", "Admin-only hypervisor administration.", "/os-hypervisors"
    ),
    Extension(
        "os-instance-actions",
        "InstanceActions",
        "View a log of actions and events taken on an instance.",
        "/servers/{server_id}/os-instance-actions",
    ),
    Extension("os-keypairs", "Keypairs", "Keypair Support.", "/os-keypairs"),
    Extension("os-migrations", "Migrations", "Provide data on migrations.", "/os-migrations"),
    Extension(
        "os-multiple-create",
        "MultipleCreate",
        "Allow multiple create in the Create Server v2.1 API.",
    ),
    Extension(
        "os-quota-class-sets",
        "QuotaClasses",
        "Quota classes management support.",
        "/os-quota-class-sets/{class_id}",
    ),
    Extension(
        "os-quota-sets", "Quotas", "Quotas management support.", "/os-quota-sets/{project_id}"
    ),
    Extension(
        "os-security-groups",
        "SecurityGroups",
        "Security group support.",
        "/os-security-groups",
    ),
    Extension(
        "os-server-external-events",
        "ServerExternalEvents",
        "Server External Event Triggers.",
        "/os-server-external-events",
    ),
    Extension(
        "os-server-group-quotas",
        "ServerGroupQuotas",
        "Adds quota support to server groups.",
        "/os-server-groups",
    ),
    Extension("os-server-groups", "ServerGroups", "Server group support.", "/os-server-groups"),
    Extension("os-server-sort-keys", "ServerSortKeys", "Add sorting support in get Server v2 API."),
    Extension(
        "os-server-start-stop",
        "ServerStartStop",
        "Start/Stop instance compute API support.",
        "/servers/{server_id}/action",
    ),
    Extension("os-services", "Services", "Services support.", "/os-services"),
    Extension(
        "os-simple-tenant-usage",
        "SimpleTenantUsage",
        "Simple tenant usage extension.",
        "/os-simple-tenant-usage",
    ),
    Extension(
        "os-tenant-networks",
        "OSTenantNetworks",
        "Tenant-based Network Management Extension.",
        "/os-tenant-networks",
    ),
    Extension(
        "os-used-limits",
        "UsedLimits",
        "Provide data on limited resources that are being used.",
        "/limits",
    ),
    Extension("os-user-data", "UserData", "Add user_data to the Create Server API."),
)


def served(request: Request) -> list[Extension]:
    """The extensions whose API this application serves right now."""
    return served_of(request, EXTENSIONS, _PREFIX)


@router.get("/extensions")
async def list_extensions(request: Request, ctx: ProjectCtx) -> dict[str, Any]:
    return {"extensions": [ext.descriptor(_UPDATED, _NAMESPACE) for ext in served(request)]}


@router.get("/extensions/{alias}")
async def show_extension(alias: str, request: Request, ctx: ProjectCtx) -> dict[str, Any]:
    for ext in served(request):
        if ext.alias == alias:
            return {"extension": ext.descriptor(_UPDATED, _NAMESPACE)}
    raise APIError(404, f"Extension {alias} could not be found.")
