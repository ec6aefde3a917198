"""Neutron's errors: each has Neutron's type name, HTTP status and message.

The API renders them as ``{"NeutronError": {"type", "message", "detail": ""}}``; the
service layer raises them and knows no HTTP beyond the status number.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.db.base import delete_once


class NeutronError(Exception):
    """An error the client sees with Neutron's ``type`` and message."""

    status = 500
    type = "NeutronError"

    def __init__(self, message: str, *, status: int | None = None, type: str | None = None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        if type is not None:
            self.type = type


class BadRequest(NeutronError):
    status = 400
    type = "HTTPBadRequest"


class InvalidInput(BadRequest):
    """Neutron's ``InvalidInput``: "Invalid input for operation: ..."."""

    type = "InvalidInput"

    def __init__(self, detail: str) -> None:
        super().__init__(f"Invalid input for operation: {detail}.")


def invalid_attr(attr: str, reason: str) -> BadRequest:
    """The message of Neutron's attribute validators."""
    return BadRequest(f"Invalid input for {attr}. Reason: {reason}.")


class NotFound(NeutronError):
    status = 404


class Conflict(NeutronError):
    status = 409


class PolicyNotAuthorized(NeutronError):
    status = 403
    type = "PolicyNotAuthorized"

    def __init__(self, action: str) -> None:
        super().__init__(f"rule:{action} is disallowed by policy")


def not_found(kind: str, ident: str) -> NotFound:
    """``NetworkNotFound`` and friends, with Neutron's wording per resource."""
    messages = {
        "Network": f"Network {ident} could not be found.",
        "Subnet": f"Subnet {ident} could not be found.",
        "Port": f"Port {ident} could not be found.",
        "SecurityGroup": f"Security group {ident} does not exist",
        "SecurityGroupRule": f"Security group rule {ident} does not exist",
    }
    return NotFound(messages[kind], type=f"{kind}NotFound")


async def delete_or_not_found(session: AsyncSession, row: Any, kind: str) -> None:
    """Delete ``row``, read before: a concurrent delete that committed since makes this
    one ``not_found(kind, row.id)`` (Neutron's answer to a second delete), not a DELETE
    that matched nothing; the route does not commit, so what it wrote before rolls back."""
    ident = row.id  # read now: the row leaves the session
    if not await delete_once(session, row):
        raise not_found(kind, ident)


def network_in_use(net_id: str) -> Conflict:
    return Conflict(
        f"Unable to complete operation on network {net_id}. "
        "There are one or more ports still in use on the network.",
        type="NetworkInUse",
    )


def subnet_in_use(subnet_id: str) -> Conflict:
    return Conflict(
        f"Unable to complete operation on subnet {subnet_id}: "
        "One or more ports have an IP allocation from this subnet.",
        type="SubnetInUse",
    )


def ip_already_allocated(ip: str, subnet_id: str) -> Conflict:
    return Conflict(
        f"IP address {ip} already allocated in subnet {subnet_id}",
        type="IpAddressAlreadyAllocated",
    )


def ip_generation_failure(net_id: str) -> Conflict:
    return Conflict(
        f"No more IP addresses available on network {net_id}.",
        type="IpAddressGenerationFailure",
    )


def over_quota(resource: str) -> Conflict:
    return Conflict(f"Quota exceeded for resources: ['{resource}'].", type="OverQuota")
