"""Security groups and rules in the shape of Nova's deprecated proxy (Nova with Neutron:
``nova/network/security_group_api.py`` converts, ``.../compute/security_groups.py`` formats).

Nova shows a group's ingress rules only (it cannot make egress ones); a rule names its
remote group as ``group: {name, tenant_id}`` or its prefix as ``ip_range: {cidr}``, never
both; a protocol without ports reads as the whole range.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.api.errors import APIError
from stockyard.db.models import Port, PortSecurityGroup, SecurityGroup, SecurityGroupRule
from stockyard.identity.context import RequestContext
from stockyard.network import ports, secgroups
from stockyard.network.errors import NeutronError

ANY_CIDR = "0.0.0.0/0"


def validate_id(value: Any) -> str:
    """Nova's ``validate_id``: every group and rule id is a UUID, else 400."""
    try:
        uuid.UUID(str(value))
    except ValueError:
        raise APIError(400, "Security group id should be uuid") from None
    return str(value)


def relay(exc: NeutronError) -> APIError:
    """Nova relays Neutron's message; a 409 (quota, duplicate, default name) is Nova's
    ``SecurityGroupLimitExceeded`` (403), anything else keeps its status."""
    return APIError(403 if exc.status == 409 else exc.status, exc.message)


def nova_rule(rule: SecurityGroupRule) -> dict[str, Any]:
    """Nova's internal rule (``_convert_to_nova_security_group_rule_format``)."""
    low, high = rule.port_range_min, rule.port_range_max
    if rule.protocol and low is None and high is None:
        low, high = (1, 65535) if rule.protocol.upper() in ("TCP", "UDP") else (-1, -1)
    return {
        "id": rule.id,
        "parent_group_id": rule.security_group_id,
        "protocol": rule.protocol,
        "from_port": low,
        "to_port": high,
        "group_id": rule.remote_group_id,
        "cidr": rule.remote_ip_prefix or ANY_CIDR,
    }


def rule_view(rule: dict[str, Any], remote: dict[str, str] | None) -> dict[str, Any]:
    """The API's rule; ``remote`` is the remote group's ``{name, tenant_id}``."""
    return {
        "id": rule["id"],
        "parent_group_id": rule["parent_group_id"],
        "ip_protocol": rule["protocol"],
        "from_port": rule["from_port"],
        "to_port": rule["to_port"],
        "group": remote or {},
        "ip_range": {} if rule["group_id"] else {"cidr": rule["cidr"]},
    }


async def ingress_rules(
    session: AsyncSession, group_ids: list[str]
) -> dict[str, list[dict[str, Any]]]:
    rows = await secgroups.rules_of(session, group_ids)
    return {
        gid: [nova_rule(r) for r in rules if r.direction == "ingress"]
        for gid, rules in rows.items()
    }


async def remote_groups(session: AsyncSession, ids: set[str]) -> dict[str, dict[str, str]]:
    if not ids:
        return {}
    rows = await session.scalars(select(SecurityGroup).where(SecurityGroup.id.in_(sorted(ids))))
    return {g.id: {"name": g.name, "tenant_id": g.project_id} for g in rows}


async def groups_view(session: AsyncSession, groups: list[SecurityGroup]) -> list[dict[str, Any]]:
    """Nova's groups, in the order given (callers sort)."""
    rules = await ingress_rules(session, sorted({g.id for g in groups}))
    wanted = {r["group_id"] for rs in rules.values() for r in rs if r["group_id"]}
    remotes = await remote_groups(session, wanted)
    out = []
    for group in groups:
        shown = []
        for rule in rules[group.id]:
            remote = remotes.get(rule["group_id"]) if rule["group_id"] else None
            if rule["group_id"] and remote is None:
                continue  # Nova skips a rule whose remote group it cannot find
            shown.append(rule_view(rule, remote))
        out.append(
            {
                "id": group.id,
                "name": group.name,
                "description": group.description,
                "tenant_id": group.project_id,
                "rules": shown,
            }
        )
    return out


def sort_groups(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(groups, key=lambda g: (g["tenant_id"], g["name"]))


async def server_security_groups(
    session: AsyncSession, ctx: RequestContext, uuids: list[str]
) -> dict[str, list[dict[str, str]]]:
    """A server body's ``security_groups`` per server (Nova's
    ``get_instances_security_groups_bindings``): for each port of the server the caller
    sees, each of its groups the caller sees, as ``{"name": name or id}``. A server
    with none has no entry (Nova then leaves the key out)."""
    if not uuids:
        return {}
    rows = await session.execute(
        select(Port.device_id, SecurityGroup.id, SecurityGroup.name, SecurityGroup.project_id)
        .join(PortSecurityGroup, PortSecurityGroup.port_id == Port.id)
        .join(SecurityGroup, SecurityGroup.id == PortSecurityGroup.security_group_id)
        .where(Port.device_id.in_(uuids), ports.visible(ctx))
        .order_by(Port.created_at, Port.id, SecurityGroup.name, SecurityGroup.id)
    )
    out: dict[str, list[dict[str, str]]] = {}
    for device, gid, name, project in rows:
        if secgroups.can_see(ctx, project):
            out.setdefault(device, []).append({"name": name or gid})
    return out
