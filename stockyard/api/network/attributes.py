"""Request bodies checked as Neutron's attribute maps do: which attributes each resource
accepts on POST and PUT, their types, and Neutron's messages for what is wrong.

Neutron's clients match on these messages, so the check is table-driven here rather
than a pydantic model whose errors would read differently.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from fastapi import Request

from stockyard.identity.context import RequestContext
from stockyard.network.errors import BadRequest, PolicyNotAuthorized, invalid_attr

Check = Callable[[str, Any], Any]


def boolean(attr: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).lower()
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    raise invalid_attr(attr, f"'{value}' cannot be converted to boolean")


def string(limit: int) -> Check:
    def check(attr: str, value: Any) -> str:
        if not isinstance(value, str):
            raise invalid_attr(attr, f"'{value}' is not a valid string")
        if len(value) > limit:
            raise invalid_attr(attr, f"'{value}' exceeds maximum length of {limit}")
        return value

    return check


def integer(attr: str, value: Any) -> int:
    if isinstance(value, bool):
        raise invalid_attr(attr, f"'{value}' is not an integer")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise invalid_attr(attr, f"'{value}' is not an integer") from None


def nullable_int(attr: str, value: Any) -> int | None:
    return None if value is None else integer(attr, value)


def anything(attr: str, value: Any) -> Any:
    return value


def string_list(attr: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise invalid_attr(attr, f"'{value}' is not a list of strings")
    return list(value)


def mapping(attr: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid_attr(attr, f"'{value}' is not a dictionary")
    return value


def nullable_string(attr: str, value: Any) -> str | None:
    return None if value is None else string(255)(attr, value)


# attribute -> (allowed on POST, allowed on PUT, check, admin only)
Spec = dict[str, tuple[bool, bool, Check, bool]]
_COMMON: Spec = {
    "name": (True, True, string(255), False),
    "description": (True, True, string(255), False),
    "project_id": (True, False, string(255), False),
    "tenant_id": (True, False, string(255), False),
}
NETWORK: Spec = {
    **_COMMON,
    "admin_state_up": (True, True, boolean, False),
    "shared": (True, True, boolean, True),
    "router:external": (True, True, boolean, True),
    "mtu": (True, True, integer, False),
    "port_security_enabled": (True, True, boolean, False),
    "availability_zone_hints": (True, False, string_list, False),
    "provider:network_type": (True, True, nullable_string, True),
    "provider:physical_network": (True, True, nullable_string, True),
    "provider:segmentation_id": (True, True, nullable_int, True),
}
SUBNET: Spec = {
    **_COMMON,
    "network_id": (True, False, string(36), False),
    "ip_version": (True, False, integer, False),
    "cidr": (True, False, anything, False),
    "gateway_ip": (True, True, nullable_string, False),
    "allocation_pools": (True, True, anything, False),
    "dns_nameservers": (True, True, anything, False),
    "host_routes": (True, True, anything, False),
    "enable_dhcp": (True, True, boolean, False),
    "ipv6_ra_mode": (True, False, anything, False),
    "ipv6_address_mode": (True, False, anything, False),
}
PORT: Spec = {
    **_COMMON,
    "network_id": (True, False, string(36), False),
    "admin_state_up": (True, True, boolean, False),
    "mac_address": (True, True, string(32), False),
    "fixed_ips": (True, True, anything, False),
    "device_id": (True, True, string(255), False),
    "device_owner": (True, True, string(255), False),
    "security_groups": (True, True, anything, False),
    "port_security_enabled": (True, True, boolean, False),
    "binding:host_id": (True, True, nullable_string, True),
    "binding:profile": (True, True, mapping, True),
    "binding:vnic_type": (True, True, string(64), False),
}
SECURITY_GROUP: Spec = {**_COMMON}
SECURITY_GROUP_RULE: Spec = {
    "description": (True, False, string(255), False),
    "project_id": (True, False, string(255), False),
    "tenant_id": (True, False, string(255), False),
    "security_group_id": (True, False, string(36), False),
    "direction": (True, False, anything, False),
    "ethertype": (True, False, anything, False),
    "protocol": (True, False, anything, False),
    "port_range_min": (True, False, anything, False),
    "port_range_max": (True, False, anything, False),
    "remote_ip_prefix": (True, False, anything, False),
    "remote_group_id": (True, False, anything, False),
}
# Attributes Neutron shows but never accepts in a body. No "tags": without the
# standard-attr-tag extension (not served) Neutron neither shows nor accepts them.
READ_ONLY = {"id", "status", "created_at", "updated_at", "revision_number", "subnets"}


async def read_body(request: Request, resource: str) -> dict[str, Any]:
    """The ``{"<resource>": {...}}`` object of the request."""
    raw = await request.body()
    try:
        body = orjson.loads(raw) if raw.strip() else None
    except orjson.JSONDecodeError:
        raise BadRequest("Malformed request body") from None
    if not isinstance(body, dict) or not isinstance(body.get(resource), dict):
        raise BadRequest(f"Unable to find '{resource}' in request body")
    inner: dict[str, Any] = body[resource]
    return inner


async def read_many(request: Request, resource: str) -> tuple[list[dict[str, Any]], bool]:
    """A create body, single (``{"port": {...}}``) or bulk (``{"ports": [...]}``); the
    items and whether it was bulk. A bulk create is one transaction: all or nothing."""
    raw = await request.body()
    try:
        body = orjson.loads(raw) if raw.strip() else None
    except orjson.JSONDecodeError:
        raise BadRequest("Malformed request body") from None
    plural = f"{resource}s"
    if isinstance(body, dict) and isinstance(body.get(plural), list):
        items = body[plural]
        if not items or not all(isinstance(i, dict) for i in items):
            raise BadRequest(f"Resources required: '{plural}' must be a list of objects")
        return items, True
    if not isinstance(body, dict) or not isinstance(body.get(resource), dict):
        raise BadRequest(f"Unable to find '{resource}' in request body")
    return [body[resource]], False


def check(
    ctx: RequestContext, spec: Spec, body: dict[str, Any], *, action: str, resource: str
) -> dict[str, Any]:
    """Validated attributes of a POST (``action`` create) or PUT (update) body."""
    post = action == "create"
    unknown = [k for k in body if k not in spec and k not in READ_ONLY]
    if unknown:
        raise BadRequest(f"Unrecognized attribute(s) '{', '.join(unknown)}'")
    out: dict[str, Any] = {}
    for key, value in body.items():
        if key in READ_ONLY or not spec[key][0 if post else 1]:
            if post:
                raise BadRequest(f"Attribute '{key}' not allowed in POST")
            raise BadRequest(f"Cannot update read-only attribute {key}")
        _, _, convert, admin_only = spec[key]
        if admin_only and not ctx.is_admin:
            raise PolicyNotAuthorized(f"{action}_{resource}:{key}")
        out[key] = convert(key, value)
    return out


def owner(ctx: RequestContext, attrs: dict[str, Any]) -> str:
    """The project a new resource belongs to: the caller's, or another for admins."""
    project = attrs.get("project_id")
    tenant = attrs.get("tenant_id")
    if project is not None and tenant is not None and project != tenant:
        raise BadRequest("'project_id' and 'tenant_id' do not match")
    wanted = project or tenant or ctx.project_id
    if wanted is None:
        raise BadRequest("A project_id is required with a token that has no project scope")
    if wanted != ctx.project_id and not ctx.is_admin:
        raise BadRequest(
            "Specifying 'project_id' or 'tenant_id' other than the authenticated project "
            "in request requires admin privileges"
        )
    return str(wanted)
