"""Nova's security group rule proxy (deprecated; removed at 2.36):
``POST /os-security-group-rules`` and ``DELETE /os-security-group-rules/{id}``.

Nova's rules are ingress only. It checks the request its own way first (ports as
integers, TCP/UDP/ICMP only, ranges, the CIDR, its own duplicate test against the
group's rules), then creates the Neutron rule; what Neutron refuses after that comes
back with Neutron's message (a 409 as 403, as Nova's ``SecurityGroupLimitExceeded``).
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import unquote

from fastapi import APIRouter, Body, Response

from stockyard.api.compute.removed import require_before
from stockyard.api.compute.secgroup_views import (
    ANY_CIDR,
    ingress_rules,
    nova_rule,
    relay,
    rule_view,
    validate_id,
)
from stockyard.api.compute.security_groups import REMOVED_AT, from_body
from stockyard.api.deps import Microversion, SessionDep, WriterCtx
from stockyard.api.errors import APIError
from stockyard.identity.context import RequestContext
from stockyard.network import secgroups
from stockyard.network.errors import NeutronError

router = APIRouter()


def _invalid_range(low: int, high: int, why: str) -> APIError:
    return APIError(400, f"Invalid port range {low}:{high}. {why}")


def _parse_cidr(cidr: Any) -> str:
    """Nova's ``parse_cidr``: none is any IPv4 address; else an address with a prefix."""
    if not cidr:
        return ANY_CIDR
    text = unquote(str(cidr))
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        text = ""
    if "/" not in text or text.endswith("/"):
        raise APIError(400, f"{cidr} is not a valid IP network.")
    return text


def new_rule(
    protocol: Any, from_port: Any, to_port: Any, group_id: str | None, cidr: str | None
) -> dict[str, Any] | None:
    """Nova's ``_new_ingress_rule``: None when a CIDR rule lacks protocol or ports."""
    values: dict[str, Any] = {}
    if group_id:
        values["group_id"] = group_id
        # A remote-group rule without ports opens the protocol's whole range.
        upper = str(protocol).upper() if protocol else ""
        if from_port is None and to_port is None:
            if upper == "ICMP":
                from_port = to_port = -1
            elif upper in ("TCP", "UDP"):
                from_port, to_port = 1, 65535
    elif cidr:
        values["cidr"] = cidr
    if not (protocol and from_port is not None and to_port is not None):
        return None if cidr else values
    proto = str(protocol)
    upper = proto.upper()
    try:
        low, high = int(from_port), int(to_port)
    except (TypeError, ValueError):
        reason = (
            "Type and Code must be integers for ICMP protocol type"
            if upper == "ICMP"
            else "To and From ports must be integers"
        )
        raise APIError(400, f"Invalid input received: {reason}") from None
    if upper not in ("TCP", "UDP", "ICMP"):
        raise APIError(400, f"Invalid IP protocol {proto}.")
    if upper in ("TCP", "UDP") and low > high:
        raise _invalid_range(low, high, "Former value cannot be greater than the later")
    if upper in ("TCP", "UDP") and (low < 1 or high > 65535):
        raise _invalid_range(low, high, f"Valid {upper} ports should be between 1-65535")
    if upper == "ICMP" and not (-1 <= low <= 255 and -1 <= high <= 255):
        raise _invalid_range(low, high, "For ICMP, the type:code must be valid")
    values.update(protocol=proto, from_port=low, to_port=high)
    return values


def _exists(existing: list[dict[str, Any]], rule: dict[str, Any]) -> bool:
    """Nova's ``_rule_exists``: the same remote group, CIDR, ports and protocol."""
    keys = ("group_id", "cidr", "from_port", "to_port", "protocol")
    return any(all(old.get(k) == rule.get(k) for k in keys) for old in existing)


def _neutron_body(parent_id: str, rule: dict[str, Any]) -> dict[str, Any]:
    """Nova's ``_make_neutron_security_group_rules_list`` for one rule."""
    cidr = rule.get("cidr")
    body: dict[str, Any] = {
        "security_group_id": parent_id,
        "direction": "ingress",
        # Without a CIDR (a remote-group rule) Nova makes the IPv4 rule only.
        "ethertype": "IPv6" if cidr and ipaddress.ip_network(cidr, False).version == 6 else "IPv4",
        "protocol": rule.get("protocol"),
        "remote_ip_prefix": cidr,
        "remote_group_id": rule.get("group_id"),
    }
    if rule.get("from_port", -1) != -1:
        body["port_range_min"] = rule["from_port"]
    if rule.get("to_port", -1) != -1:
        body["port_range_max"] = rule["to_port"]
    return body


async def _get_group(session: SessionDep, ctx: RequestContext, group_id: str) -> Any:
    try:
        return await secgroups.get_group(session, ctx, group_id)
    except NeutronError as exc:
        raise relay(exc) from None


@router.post("/os-security-group-rules")
async def create_rule(
    session: SessionDep, ctx: WriterCtx, version: Microversion, body: Any = Body(None)
) -> dict[str, Any]:
    require_before(version, REMOVED_AT)
    sg_rule = from_body(body, "security_group_rule")
    if not isinstance(sg_rule, dict):
        raise APIError(400, "Security group id should be uuid")
    parent = await _get_group(session, ctx, validate_id(sg_rule.get("parent_group_id")))
    group_id = sg_rule.get("group_id")
    remote: dict[str, str] | None = None
    if group_id is not None:
        source = await _get_group(session, ctx, validate_id(group_id))
        remote = {"name": source.name, "tenant_id": source.project_id}
    cidr = None if group_id is not None else _parse_cidr(sg_rule.get("cidr"))
    rule = new_rule(
        sg_rule.get("ip_protocol"),
        sg_rule.get("from_port"),
        sg_rule.get("to_port"),
        None if group_id is None else str(group_id),
        cidr,
    )
    if rule is None:
        raise APIError(400, "Not enough parameters to build a valid rule.")
    if cidr is not None:
        # Nova's get_net_and_prefixlen: the address as written, not the network's.
        iface = ipaddress.ip_interface(cidr)
        if iface.network.prefixlen == 0 and str(iface.ip) not in ("0.0.0.0", "::"):
            raise APIError(400, f"Bad prefix for network in cidr {cidr}")
    existing = (await ingress_rules(session, [parent.id]))[parent.id]
    if _exists(existing, rule):
        raise APIError(400, f"This rule already exists in group {parent.id}")
    try:
        row = await secgroups.create_rule(session, ctx, _neutron_body(parent.id, rule))
    except NeutronError as exc:
        raise relay(exc) from None
    view = rule_view(nova_rule(row), remote)
    await session.commit()
    return {"security_group_rule": view}


@router.delete("/os-security-group-rules/{rule_id}", status_code=202)
async def delete_rule(
    rule_id: str, session: SessionDep, ctx: WriterCtx, version: Microversion
) -> Response:
    require_before(version, REMOVED_AT)
    validate_id(rule_id)
    try:
        await secgroups.delete_rule(session, ctx, rule_id)
    except NeutronError as exc:
        raise relay(exc) from None
    await session.commit()
    return Response(status_code=202)
