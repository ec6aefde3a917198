"""The route table of the conformance validator (``schemas.py``): which Tempest schema
(or, for Image v2, which status codes) each compute and image call is checked against."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class ComputeRoute:
    """A compute call: a fixed v2.1 ``module`` or, with ``client``, the versioned one."""

    method: str
    path: str  # regex of the path after /compute/v2.1[/{project_id}]
    attr: str
    module: str = ""
    client: str = ""

    @property
    def name(self) -> str:
        return f"{self.method} {self.path}"


SERVERS_CLIENT = "servers_client.ServersClient"
_FLAVORS = "flavors_client.FlavorsClient"
_KEYPAIRS = "keypairs_client.KeyPairsClient"
_AGGREGATES = "aggregates_client.AggregatesClient"
_HYPERVISORS = "hypervisor_client.HypervisorClient"
_QUOTAS = "quotas_client.QuotasClient"
_QUOTA_CLASSES = "quota_classes_client.QuotaClassesClient"
_LIMITS = "limits_client.LimitsClient"
_SERVICES = "services_client.ServicesClient"
_GROUPS = "server_groups_client.ServerGroupsClient"
_INTERFACES = "interfaces_client.InterfacesClient"
_MIGRATIONS = "migrations_client.MigrationsClient"

_ID = r"[^/]+"
COMPUTE: list[ComputeRoute] = [
    # servers_client
    ComputeRoute("GET", r"/servers", "list_servers", client=SERVERS_CLIENT),
    ComputeRoute("GET", r"/servers/detail", "list_servers_detail", client=SERVERS_CLIENT),
    ComputeRoute("GET", rf"/servers/{_ID}", "get_server", client=SERVERS_CLIENT),
    ComputeRoute("POST", r"/servers", "create_server", module="servers"),  # see _create_server
    ComputeRoute("PUT", rf"/servers/{_ID}", "update_server", client=SERVERS_CLIENT),
    ComputeRoute("DELETE", rf"/servers/{_ID}", "delete_server", module="servers"),
    ComputeRoute("POST", rf"/servers/{_ID}/action", "<action>", module="servers"),  # see _action
    ComputeRoute("GET", rf"/servers/{_ID}/ips", "list_addresses", module="servers"),
    ComputeRoute(
        "GET", rf"/servers/{_ID}/ips/{_ID}", "list_addresses_by_network", module="servers"
    ),
    ComputeRoute("GET", rf"/servers/{_ID}/metadata", "list_server_metadata", module="servers"),
    ComputeRoute("PUT", rf"/servers/{_ID}/metadata", "set_server_metadata", module="servers"),
    ComputeRoute("POST", rf"/servers/{_ID}/metadata", "update_server_metadata", module="servers"),
    ComputeRoute(
        "GET", rf"/servers/{_ID}/metadata/{_ID}", "set_show_server_metadata_item", "servers"
    ),
    ComputeRoute(
        "PUT", rf"/servers/{_ID}/metadata/{_ID}", "set_show_server_metadata_item", "servers"
    ),
    ComputeRoute(
        "DELETE", rf"/servers/{_ID}/metadata/{_ID}", "delete_server_metadata_item", "servers"
    ),
    ComputeRoute("GET", rf"/servers/{_ID}/tags", "list_tags", client=SERVERS_CLIENT),
    ComputeRoute("PUT", rf"/servers/{_ID}/tags", "update_all_tags", client=SERVERS_CLIENT),
    ComputeRoute("DELETE", rf"/servers/{_ID}/tags", "delete_all_tags", client=SERVERS_CLIENT),
    ComputeRoute(
        "GET", rf"/servers/{_ID}/tags/{_ID}", "check_tag_existence", client=SERVERS_CLIENT
    ),
    ComputeRoute("PUT", rf"/servers/{_ID}/tags/{_ID}", "update_tag", client=SERVERS_CLIENT),
    ComputeRoute("DELETE", rf"/servers/{_ID}/tags/{_ID}", "delete_tag", client=SERVERS_CLIENT),
    ComputeRoute("GET", rf"/servers/{_ID}/os-server-password", "show_password", "servers"),
    ComputeRoute(
        "DELETE",
        rf"/servers/{_ID}/os-server-password",
        "server_actions_delete_password",
        "servers",
    ),
    ComputeRoute(
        "GET",
        rf"/servers/{_ID}/os-instance-actions",
        "list_instance_actions",
        client=SERVERS_CLIENT,
    ),
    ComputeRoute(
        "GET",
        rf"/servers/{_ID}/os-instance-actions/{_ID}",
        "show_instance_action",
        client=SERVERS_CLIENT,
    ),
    ComputeRoute(
        "GET", rf"/servers/{_ID}/os-security-groups", "list_security_groups", "security_groups"
    ),
    ComputeRoute(
        "GET",
        rf"/servers/{_ID}/os-volume_attachments",
        "list_volume_attachments",
        client=SERVERS_CLIENT,
    ),
    ComputeRoute(
        "POST", rf"/servers/{_ID}/os-volume_attachments", "attach_volume", client=SERVERS_CLIENT
    ),
    ComputeRoute(
        "GET",
        rf"/servers/{_ID}/os-volume_attachments/{_ID}",
        "show_volume_attachment",
        client=SERVERS_CLIENT,
    ),
    ComputeRoute(
        "PUT", rf"/servers/{_ID}/os-volume_attachments/{_ID}", "update_attached_volume", "servers"
    ),
    ComputeRoute(
        "DELETE", rf"/servers/{_ID}/os-volume_attachments/{_ID}", "detach_volume", "servers"
    ),
    # interfaces_client
    ComputeRoute("GET", rf"/servers/{_ID}/os-interface", "list_interfaces", client=_INTERFACES),
    ComputeRoute(
        "POST", rf"/servers/{_ID}/os-interface", "get_create_interfaces", client=_INTERFACES
    ),
    ComputeRoute(
        "GET", rf"/servers/{_ID}/os-interface/{_ID}", "get_create_interfaces", client=_INTERFACES
    ),
    ComputeRoute(
        "DELETE", rf"/servers/{_ID}/os-interface/{_ID}", "delete_interface", client=_INTERFACES
    ),
    # flavors_client
    ComputeRoute("GET", r"/flavors", "list_flavors", client=_FLAVORS),
    ComputeRoute("GET", r"/flavors/detail", "list_flavors_details", client=_FLAVORS),
    ComputeRoute("GET", rf"/flavors/{_ID}", "create_update_get_flavor_details", client=_FLAVORS),
    ComputeRoute("POST", r"/flavors", "create_update_get_flavor_details", client=_FLAVORS),
    ComputeRoute("PUT", rf"/flavors/{_ID}", "create_update_get_flavor_details", client=_FLAVORS),
    ComputeRoute("DELETE", rf"/flavors/{_ID}", "delete_flavor", module="flavors"),
    ComputeRoute(
        "GET",
        rf"/flavors/{_ID}/os-extra_specs",
        "set_get_flavor_extra_specs",
        "flavors_extra_specs",
    ),
    ComputeRoute(
        "POST",
        rf"/flavors/{_ID}/os-extra_specs",
        "set_get_flavor_extra_specs",
        "flavors_extra_specs",
    ),
    ComputeRoute(
        "GET",
        rf"/flavors/{_ID}/os-extra_specs/{_ID}",
        "set_get_flavor_extra_specs_key",
        "flavors_extra_specs",
    ),
    ComputeRoute(
        "PUT",
        rf"/flavors/{_ID}/os-extra_specs/{_ID}",
        "set_get_flavor_extra_specs_key",
        "flavors_extra_specs",
    ),
    ComputeRoute(
        "DELETE",
        rf"/flavors/{_ID}/os-extra_specs/{_ID}",
        "unset_flavor_extra_specs",
        "flavors_extra_specs",
    ),
    ComputeRoute(
        "GET",
        rf"/flavors/{_ID}/os-flavor-access",
        "add_remove_list_flavor_access",
        "flavors_access",
    ),
    ComputeRoute(
        "POST", rf"/flavors/{_ID}/action", "add_remove_list_flavor_access", "flavors_access"
    ),
    # keypairs_client
    ComputeRoute("GET", r"/os-keypairs", "list_keypairs", client=_KEYPAIRS),
    ComputeRoute("GET", rf"/os-keypairs/{_ID}", "get_keypair", client=_KEYPAIRS),
    ComputeRoute("POST", r"/os-keypairs", "create_keypair", client=_KEYPAIRS),
    ComputeRoute("DELETE", rf"/os-keypairs/{_ID}", "delete_keypair", client=_KEYPAIRS),
    # availability_zone_client
    ComputeRoute(
        "GET", r"/os-availability-zone", "list_availability_zone_list", "availability_zone"
    ),
    ComputeRoute(
        "GET",
        r"/os-availability-zone/detail",
        "list_availability_zone_list_detail",
        "availability_zone",
    ),
    # aggregates_client
    ComputeRoute("GET", r"/os-aggregates", "list_aggregates", client=_AGGREGATES),
    ComputeRoute("GET", rf"/os-aggregates/{_ID}", "get_aggregate", client=_AGGREGATES),
    ComputeRoute("POST", r"/os-aggregates", "create_aggregate", client=_AGGREGATES),
    ComputeRoute("PUT", rf"/os-aggregates/{_ID}", "update_aggregate", client=_AGGREGATES),
    ComputeRoute("DELETE", rf"/os-aggregates/{_ID}", "delete_aggregate", client=_AGGREGATES),
    ComputeRoute("POST", rf"/os-aggregates/{_ID}/action", "<aggregate-action>", client=_AGGREGATES),
    # 2.81 image pre-cache: Tempest has no schema (nor client call); Nova's api-ref: 202.
    ComputeRoute("POST", rf"/os-aggregates/{_ID}/images", "<status:202>"),
    # hypervisor_client
    ComputeRoute("GET", r"/os-hypervisors", "list_search_hypervisors", client=_HYPERVISORS),
    ComputeRoute("GET", r"/os-hypervisors/detail", "list_hypervisors_detail", client=_HYPERVISORS),
    ComputeRoute(
        "GET", r"/os-hypervisors/statistics", "get_hypervisor_statistics", client=_HYPERVISORS
    ),
    ComputeRoute("GET", rf"/os-hypervisors/{_ID}", "get_hypervisor", client=_HYPERVISORS),
    ComputeRoute(
        "GET", rf"/os-hypervisors/{_ID}/uptime", "get_hypervisor_uptime", client=_HYPERVISORS
    ),
    ComputeRoute(
        "GET", rf"/os-hypervisors/{_ID}/search", "list_search_hypervisors", client=_HYPERVISORS
    ),
    ComputeRoute(
        "GET", rf"/os-hypervisors/{_ID}/servers", "get_hypervisors_servers", client=_HYPERVISORS
    ),
    # quotas_client, limits_client, quota_classes_client
    ComputeRoute("GET", rf"/os-quota-sets/{_ID}", "get_quota_set", client=_QUOTAS),
    ComputeRoute("GET", rf"/os-quota-sets/{_ID}/defaults", "get_quota_set", client=_QUOTAS),
    ComputeRoute("GET", rf"/os-quota-sets/{_ID}/detail", "get_quota_set_details", client=_QUOTAS),
    ComputeRoute("PUT", rf"/os-quota-sets/{_ID}", "update_quota_set", client=_QUOTAS),
    ComputeRoute("DELETE", rf"/os-quota-sets/{_ID}", "delete_quota", client=_QUOTAS),
    ComputeRoute("GET", r"/limits", "get_limit", client=_LIMITS),
    ComputeRoute(
        "GET", rf"/os-quota-class-sets/{_ID}", "get_quota_class_set", client=_QUOTA_CLASSES
    ),
    ComputeRoute(
        "PUT", rf"/os-quota-class-sets/{_ID}", "update_quota_class_set", client=_QUOTA_CLASSES
    ),
    # services_client: before 2.53 the PUT verbs are /os-services/{enable,disable,...}
    ComputeRoute("GET", r"/os-services", "list_services", client=_SERVICES),
    ComputeRoute("PUT", r"/os-services/(enable|disable)", "enable_disable_service", "services"),
    ComputeRoute("PUT", r"/os-services/disable-log-reason", "disable_log_reason", "services"),
    ComputeRoute("PUT", r"/os-services/force-down", "<force-down>", "services"),
    ComputeRoute("PUT", rf"/os-services/{_ID}", "update_service", client=_SERVICES),
    # Tempest has no schema (nor client call) for it; Nova's api-ref: 204, no body.
    ComputeRoute("DELETE", rf"/os-services/{_ID}", "<status:204>"),
    # server_groups_client
    ComputeRoute("GET", r"/os-server-groups", "list_server_groups", client=_GROUPS),
    ComputeRoute("POST", r"/os-server-groups", "create_show_server_group", client=_GROUPS),
    ComputeRoute("GET", rf"/os-server-groups/{_ID}", "create_show_server_group", client=_GROUPS),
    ComputeRoute("DELETE", rf"/os-server-groups/{_ID}", "delete_server_group", client=_GROUPS),
    # hosts_client, tenant_usages_client, migrations_client, server_external_events_client
    ComputeRoute("GET", r"/os-hosts", "list_hosts", "hosts"),
    ComputeRoute("GET", rf"/os-hosts/{_ID}", "get_host_detail", "hosts"),
    ComputeRoute("PUT", rf"/os-hosts/{_ID}", "update_host", "hosts"),
    ComputeRoute("GET", rf"/os-hosts/{_ID}/startup", "startup_host", "hosts"),
    ComputeRoute("GET", rf"/os-hosts/{_ID}/shutdown", "shutdown_host", "hosts"),
    ComputeRoute("GET", rf"/os-hosts/{_ID}/reboot", "reboot_host", "hosts"),
    ComputeRoute("GET", r"/os-simple-tenant-usage", "list_tenant_usage", "tenant_usages"),
    ComputeRoute("GET", rf"/os-simple-tenant-usage/{_ID}", "get_tenant_usage", "tenant_usages"),
    ComputeRoute("GET", r"/os-migrations", "list_migrations", client=_MIGRATIONS),
    ComputeRoute(
        "POST", r"/os-server-external-events", "<external-events>", "server_external_events"
    ),
    # extensions_client (show_extension validates nothing: one item of the list's schema)
    ComputeRoute("GET", r"/extensions", "list_extensions", "extensions"),
    ComputeRoute("GET", rf"/extensions/{_ID}", "<show-extension>"),
    # images_client (the image proxy: fixed v2.1 schemas for these calls)
    ComputeRoute("GET", r"/images", "list_images", "images"),
    ComputeRoute("GET", r"/images/detail", "list_images_details", "images"),
    ComputeRoute("GET", rf"/images/{_ID}", "get_image", "images"),
    ComputeRoute("DELETE", rf"/images/{_ID}", "delete", "images"),
    ComputeRoute("GET", rf"/images/{_ID}/metadata", "image_metadata", "images"),
    ComputeRoute("PUT", rf"/images/{_ID}/metadata", "image_metadata", "images"),
    ComputeRoute("POST", rf"/images/{_ID}/metadata", "image_metadata", "images"),
    ComputeRoute("GET", rf"/images/{_ID}/metadata/{_ID}", "image_meta_item", "images"),
    ComputeRoute("PUT", rf"/images/{_ID}/metadata/{_ID}", "image_meta_item", "images"),
    ComputeRoute("DELETE", rf"/images/{_ID}/metadata/{_ID}", "delete", "images"),
    # security_groups_client, security_group_rules_client, tenant_networks_client
    ComputeRoute("GET", r"/os-security-groups", "list_security_groups", "security_groups"),
    ComputeRoute("POST", r"/os-security-groups", "create_security_group", "security_groups"),
    ComputeRoute("GET", rf"/os-security-groups/{_ID}", "get_security_group", "security_groups"),
    ComputeRoute("PUT", rf"/os-security-groups/{_ID}", "update_security_group", "security_groups"),
    ComputeRoute(
        "DELETE", rf"/os-security-groups/{_ID}", "delete_security_group", "security_groups"
    ),
    ComputeRoute(
        "POST", r"/os-security-group-rules", "create_security_group_rule", "security_groups"
    ),
    ComputeRoute(
        "DELETE",
        rf"/os-security-group-rules/{_ID}",
        "delete_security_group_rule",
        "security_groups",
    ),
    ComputeRoute("GET", r"/os-tenant-networks", "list_tenant_networks", "tenant_networks"),
    ComputeRoute("GET", rf"/os-tenant-networks/{_ID}", "get_tenant_network", "tenant_networks"),
]

# Versions documents (versions_client: fixed v2.1 schemas).
COMPUTE_VERSIONS = [
    (re.compile(r"/compute/?$"), "list_versions"),
    (re.compile(r"/compute/v2\.1/?$"), "get_one_version"),
    (re.compile(r"/compute/v2/?$"), "get_one_version"),
]

# servers_client.action(): the action name picks the schema.
ACTION_SCHEMAS: dict[str, tuple[str, str]] = {
    # action: (attr, client or "" for fixed v2.1)
    "confirmResize": ("server_actions_confirm_resize", ""),
    "os-getConsoleOutput": ("get_console_output", ""),
    "os-getVNCConsole": ("get_vnc_console", ""),
    "createBackup": ("create_backup", SERVERS_CLIENT),
    "createImage": ("create_image", "images_client.ImagesClient"),
}


# Image v2: the status codes tempest/lib/services/image/v2/*_client.py expect.
IMAGE: list[tuple[str, str, list[int]]] = [
    ("GET", r"/image/?", [300]),  # versions_client.list_versions
    ("GET", r"/image/versions", [200, 300]),
    ("GET", r"/image/v2/?", [200, 300]),
    ("GET", r"/image/v2/images", [200]),
    ("POST", r"/image/v2/images", [201]),
    ("GET", rf"/image/v2/images/{_ID}", [200]),
    ("PATCH", rf"/image/v2/images/{_ID}", [200]),
    ("DELETE", rf"/image/v2/images/{_ID}", [204]),
    ("POST", rf"/image/v2/images/{_ID}/actions/(deactivate|reactivate)", [204]),
    ("PUT", rf"/image/v2/images/{_ID}/file", [204]),
    ("GET", rf"/image/v2/images/{_ID}/file", [200, 204, 206]),
    ("PUT", rf"/image/v2/images/{_ID}/tags/{_ID}", [204]),
    ("DELETE", rf"/image/v2/images/{_ID}/tags/{_ID}", [204]),
    # image_members_client
    ("GET", rf"/image/v2/images/{_ID}/members", [200]),
    ("POST", rf"/image/v2/images/{_ID}/members", [200]),
    ("GET", rf"/image/v2/images/{_ID}/members/{_ID}", [200]),
    ("PUT", rf"/image/v2/images/{_ID}/members/{_ID}", [200]),
    ("DELETE", rf"/image/v2/images/{_ID}/members/{_ID}", [204]),
    ("GET", r"/image/v2/schemas/[^/]+", [200]),
    ("GET", r"/image/v2/info/import", [200]),
]
