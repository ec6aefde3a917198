"""The body of ``POST /servers/{id}/os-interface``, checked as Nova's JSON schema
(``attach_interfaces.create``; ``tag`` from 2.49) with the validator's messages:
``Invalid input for field/attribute <path>. Value: <value>. <reason>``, the path joined
with ``/``; an error at the top level is the reason alone."""

from __future__ import annotations

import ipaddress
import re
import uuid as uuidlib
from dataclasses import dataclass
from typing import Any

from stockyard.api.errors import APIError
from stockyard.api.microversion import APIVersion

_TAG = re.compile(r"^[^,/]*$")


@dataclass(frozen=True, slots=True)
class AttachRequest:
    net_id: str | None = None
    port_id: str | None = None
    ip: str | None = None
    tag: str | None = None


def _bad(path: str, value: Any, reason: str) -> APIError:
    if not path:
        return APIError(400, reason)
    return APIError(400, f"Invalid input for field/attribute {path}. Value: {value}. {reason}")


def _object(path: str, value: Any, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad(path, value, f"{value!r} is not of type 'object'")
    extra = sorted(set(value) - allowed)
    if extra:
        names = ", ".join(repr(k) for k in extra)
        verb = "were" if len(extra) > 1 else "was"
        raise _bad(
            path, value, f"Additional properties are not allowed ({names} {verb} unexpected)"
        )
    return value


def _uuid(path: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _bad(path, value, f"{value!r} is not of type 'string'")
    try:
        uuidlib.UUID(value)
    except ValueError:
        raise _bad(path, value, f"{value!r} is not a 'uuid'") from None
    return value


def _ip(path: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _bad(path, value, f"{value!r} is not of type 'string'")
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise _bad(path, value, f"{value!r} is not valid under any of the given schemas") from None
    return value


def _tag(path: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _bad(path, value, f"{value!r} is not of type 'string'")
    if not value:
        raise _bad(path, value, f"{value!r} is too short")
    if len(value) > 60:
        raise _bad(path, value, f"{value!r} is too long")
    if not _TAG.match(value):
        raise _bad(path, value, f"{value!r} does not match '^[^,/]*$'")
    return value


def parse_attach(body: Any, version: APIVersion) -> AttachRequest:
    """The request; no body (or no ``interfaceAttachment``) asks for Nova's own choice."""
    if body is None:
        return AttachRequest()
    root = _object("", body, {"interfaceAttachment"})
    if "interfaceAttachment" not in root:
        return AttachRequest()
    allowed = {"net_id", "port_id", "fixed_ips"}
    if version.at_least("2.49"):
        allowed.add("tag")
    path = "interfaceAttachment"
    data = _object(path, root[path], allowed)
    net_id = _uuid(f"{path}/net_id", data["net_id"]) if "net_id" in data else None
    port_id = _uuid(f"{path}/port_id", data["port_id"]) if "port_id" in data else None
    ip = None
    if "fixed_ips" in data:
        fixed = data["fixed_ips"]
        where = f"{path}/fixed_ips"
        if not isinstance(fixed, list):
            raise _bad(where, fixed, f"{fixed!r} is not of type 'array'")
        if not fixed:
            raise _bad(where, fixed, "[] should be non-empty")
        if len(fixed) > 1:
            raise _bad(where, fixed, f"{fixed!r} is too long")
        item = _object(f"{where}/0", fixed[0], {"ip_address"})
        if "ip_address" not in item:
            raise _bad(f"{where}/0", item, "'ip_address' is a required property")
        ip = _ip(f"{where}/0/ip_address", item["ip_address"])
    tag = _tag(f"{path}/tag", data["tag"]) if "tag" in data else None
    return AttachRequest(net_id=net_id, port_id=port_id, ip=ip, tag=tag)
