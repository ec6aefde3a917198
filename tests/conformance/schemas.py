"""Validate compute/image responses against the schemas Tempest ships.

``validate(method, path, microversion, status, body)`` finds the Tempest response schema
for a Nova (``/compute/v2.1``) or Glance (``/image/v2``) call and checks the status code
and the body the way ``tempest.lib.common.rest_client.RestClient.validate_response`` does:
only 2xx/3xx responses are checked, the status must be one the schema lists, the body is
validated with Draft 4 plus Tempest's format checkers ('iso8601-date-time', 'base64'),
and a call whose schema has no body must return none.

The schema is picked as Tempest's compute clients pick it: a call the client validates
with ``self.get_schema(self.schema_versions_info)`` takes the module of the range that
holds the response's microversion (the newest module <= it); a call the client validates
with a fixed schema takes that one (always the v2.1 module).

Tempest ships no response *body* schemas for Image v2: its images client only checks
status codes (``expected_success``), and so does this module for ``/image``.

A compute or image path this module does not know fails (``UnmappedRoute``) unless it
starts with one of ``SKIPPED_PREFIXES``: nothing is skipped silently.
"""

from __future__ import annotations

import copy
import importlib
import json
import re
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import httpx
import jsonschema
from tempest.lib.common.jsonschema_validator import FORMAT_CHECKER, JSONSCHEMA_VALIDATOR

from tests.conformance.routes import (
    ACTION_SCHEMAS,
    COMPUTE,
    COMPUTE_VERSIONS,
    IMAGE,
    SERVERS_CLIENT,
    ComputeRoute,
)

_SCHEMA_PKG = "tempest.lib.api_schema.response.compute"
_CLIENT_PKG = "tempest.lib.services.compute"

# Tempest's HTTP_SUCCESS + HTTP_REDIRECTION (rest_client): only these are validated.
_CHECKED = {200, 201, 202, 203, 204, 205, 206, 300, 301, 302, 303, 304, 305, 306, 307}

# Paths that are not Nova or Glance API (or are Stockyard extensions of them), skipped on
# purpose. Each entry is a regex matched at the start of the path.
SKIPPED_PREFIXES: dict[str, str] = {
    r"/identity(/|$)": "Keystone API: Tempest ships no identity response schemas",
    r"/stock(/|$)": "Stockyard's own /stock/v1 API",
    r"/compute/v2\.1(/[^/]+)?/os-server-groups/[^/]+/stockyard-placement$": (
        "Stockyard extension: failure domains of a server group's members"
    ),
}

# Routes whose mismatch lies in a file another change owns right now: the hook skips
# exactly these (method, route name) pairs. Each says why; see the lead's issue 11.
PENDING: dict[tuple[str, str], str] = {}


# Tempest's [compute-feature-enabled] enable_instance_password (default True, as Nova's
# [api] enable_instance_password): create, rebuild, rescue and evacuate return adminPass.
ENABLE_INSTANCE_PASSWORD = True


# "<microversion> <schema>" of every response the hook validated (tests assert on it).
VALIDATED: list[str] = []


class SchemaMismatch(AssertionError):
    """The response does not match the schema Tempest validates it with."""


class UnmappedRoute(AssertionError):
    """A compute/image path that neither maps to a schema nor is listed as skipped."""


@dataclass(frozen=True)
class Found:
    """The schema a call maps to: ``name`` is e.g. 'compute v2_26.servers.get_server'."""

    route: str
    name: str
    schema: dict[str, Any]


# ---------------------------------------------------------------- microversions


def _mv(text: str | None) -> tuple[int, int]:
    if not text:
        return (2, 1)
    major, minor = text.split(".")
    return (int(major), int(minor))


def _client_module(client: str, microversion: tuple[int, int]) -> ModuleType:
    """The schema module ``client``'s ``get_schema(schema_versions_info)`` picks."""
    mod_name, cls_name = client.split(".")
    cls = getattr(importlib.import_module(f"{_CLIENT_PKG}.{mod_name}"), cls_name)
    for item in cls.schema_versions_info:
        low = _mv(item["min"]) if item["min"] else (0, 0)
        high = _mv(item["max"]) if item["max"] else (99, 999)
        if low <= microversion <= high:
            return item["schema"]  # type: ignore[no-any-return]
    raise LookupError(f"{client}: no schema for microversion {microversion}")


def _fixed_module(module: str) -> ModuleType:
    return importlib.import_module(f"{_SCHEMA_PKG}.v2_1.{module}")


# ---------------------------------------------------------------- the route table
# (tests/conformance/routes.py)


_COMPUTE_RE = [(c, re.compile(c.path + "/?$")) for c in COMPUTE]


def _action_name(request_body: Any) -> str:
    if isinstance(request_body, dict) and len(request_body) == 1:
        return str(next(iter(request_body)))
    raise UnmappedRoute(f"server action with a body that names no single action: {request_body!r}")


def _compute_schema(
    route: ComputeRoute, mv: tuple[int, int], request_body: Any, body: Any
) -> tuple[str, dict[str, Any]]:
    attr, client, module = route.attr, route.client, route.module
    if attr == "create_server":
        # servers_client.create_server (a multi-create reservation is not validated).
        attr = "create_server_with_admin_pass" if ENABLE_INSTANCE_PASSWORD else "create_server"
    elif attr == "<action>":
        action = _action_name(request_body)
        if action in ("rebuild", "rescue", "evacuate"):
            suffix = "_with_admin_pass" if ENABLE_INSTANCE_PASSWORD else ""
            attr = f"{action}_server{suffix}"
            client = SERVERS_CLIENT if action == "rebuild" else ""
        else:
            attr, client = ACTION_SCHEMAS.get(action, ("server_actions_common_schema", ""))
        module = "images" if client.startswith("images_client") else "servers"
    elif attr == "<aggregate-action>":
        action = _action_name(request_body)
        attr = "aggregate_set_metadata" if action == "set_metadata" else "aggregate_add_remove_host"
    elif attr == "<external-events>":
        return _external_events_schema(mv)
    elif attr == "<force-down>":
        return "v2_11.services.update_forced_down", _load("v2_11.services").update_forced_down
    elif attr == "<show-extension>":
        listed = _load("v2_1.extensions").list_extensions["response_body"]
        one = {
            "type": "object",
            "properties": {"extension": listed["properties"]["extensions"]["items"]},
            "required": ["extension"],
            "additionalProperties": False,
        }
        return "v2_1.extensions.list_extensions (one item)", {
            "status_code": [200],
            "response_body": one,
        }
    elif attr.startswith("<status:"):
        return "Nova api-ref status", {"status_code": [int(attr[8:-1])]}
    mod = _client_module(client, mv) if client else _fixed_module(module)
    short = mod.__name__.removeprefix(_SCHEMA_PKG + ".")
    schema = getattr(mod, attr, None)
    if schema is None:  # e.g. PUT /os-services/{id} before 2.53: Nova has no such call
        raise SchemaMismatch(f"{route.name}: Tempest has no {attr} at {short} ({mv})")
    if mv >= (2, 88) and attr in _HYPERVISOR_288:
        return _hypervisor_288(schema, attr, short)
    return f"{short}.{attr}", schema


# Tempest ships no 2.88 hypervisor schema (its 2.53 one still requires the capacity
# fields); Nova's api-ref for 2.88: detail and show drop them, show adds "uptime", and
# statistics and uptime are gone (a 2xx there fails: no schema).
_CAPACITY_288 = (
    "vcpus",
    "vcpus_used",
    "memory_mb",
    "memory_mb_used",
    "local_gb",
    "local_gb_used",
    "free_ram_mb",
    "free_disk_gb",
    "disk_available_least",
    "running_vms",
    "current_workload",
    "cpu_info",
)
_HYPERVISOR_288 = {
    "list_hypervisors_detail",
    "get_hypervisor",
    "get_hypervisor_statistics",
    "get_hypervisor_uptime",
}


def _hypervisor_288(schema: dict[str, Any], attr: str, short: str) -> tuple[str, dict[str, Any]]:
    if attr in ("get_hypervisor_statistics", "get_hypervisor_uptime"):
        raise SchemaMismatch(f"{attr}: Nova removed it in 2.88")
    schema = copy.deepcopy(schema)
    body = schema["response_body"]["properties"]
    if attr == "get_hypervisor":
        item = body["hypervisor"]
    else:
        item = body["hypervisors"]["items"]
    for key in _CAPACITY_288:
        item["properties"].pop(key, None)
    item["required"] = [k for k in item["required"] if k not in _CAPACITY_288]
    if attr == "get_hypervisor":
        item["properties"]["uptime"] = {"type": ["string", "null"]}
        item["required"].append("uptime")
    return f"{short}.{attr} (2.88 api-ref)", schema


def _external_events_schema(mv: tuple[int, int]) -> tuple[str, dict[str, Any]]:
    """Tempest ships one schema (2.1 event names) for every microversion; Nova's api-ref
    adds "volume-extended" at 2.51, "power-update" at 2.76 and "accelerator-request-bound"
    at 2.82: the enum is widened so."""
    schema = copy.deepcopy(_fixed_module("server_external_events").create)
    names = schema["response_body"]["properties"]["events"]["items"]["properties"]["name"]
    if mv >= (2, 51):
        names["enum"].append("volume-extended")
    if mv >= (2, 76):
        names["enum"].append("power-update")
    if mv >= (2, 82):
        names["enum"].append("accelerator-request-bound")
    return "v2_1.server_external_events.create (+api-ref names)", schema


def _load(name: str) -> ModuleType:
    return importlib.import_module(f"{_SCHEMA_PKG}.{name}")


_IMAGE_RE = [(m, p, re.compile(p + "$"), codes) for m, p, codes in IMAGE]

_COMPUTE_PREFIX = re.compile(r"^/compute/v2\.1(?P<rest>/.*)$")
# Nova also serves every route under /v2.1/{project_id}/: tried after the plain path (no
# route is a bare "/{id}", so stripping a first segment never shadows one).
_PROJECT_SEGMENT = re.compile(r"^/[^/]+(?P<rest>/.+)$")


# ---------------------------------------------------------------- lookup + validate


def find(
    method: str, path: str, microversion: str | None, request_body: Any = None, body: Any = None
) -> Found | str:
    """The schema for this call, or the reason it is skipped (a ``str``)."""
    method = method.upper()
    for prefix, why in SKIPPED_PREFIXES.items():
        if re.match(prefix, path):
            return why
    if path == "/compute" or path.startswith("/compute/"):
        for regex, attr in COMPUTE_VERSIONS:
            if method == "GET" and regex.match(path):
                return Found(f"GET {regex.pattern}", f"v2_1.versions.{attr}", _load_versions(attr))
        m = _COMPUTE_PREFIX.match(path)
        rests = [m.group("rest")] if m else []
        if rests and (p := _PROJECT_SEGMENT.match(rests[0])):
            rests.append(p.group("rest"))
        for rest, (route, regex) in ((r, c) for r in rests for c in _COMPUTE_RE):
            if route.method == method and regex.match(rest):
                pending = PENDING.get((method, route.path))
                if pending is not None:
                    return f"pending: {pending}"
                if route.attr == "create_server" and isinstance(body, dict):
                    if "reservation_id" in body:
                        return "multi-create reservation: servers_client does not validate it"
                name, schema = _compute_schema(route, _mv(microversion), request_body, body)
                return Found(route.name, name, schema)
        raise UnmappedRoute(f"{method} {path}: no Tempest compute schema mapped")
    if path == "/image" or path.startswith("/image/"):
        for m_, pattern, regex, codes in _IMAGE_RE:
            if m_ == method and regex.match(path):
                return Found(f"{method} {pattern}", "image status", {"status_code": codes})
        raise UnmappedRoute(f"{method} {path}: no Tempest image status code mapped")
    raise UnmappedRoute(f"{method} {path}: neither compute, image nor a skipped prefix")


def _load_versions(attr: str) -> dict[str, Any]:
    return getattr(_fixed_module("versions"), attr)  # type: ignore[no-any-return]


def check(found: Found, status: int, body: Any, *, has_body: bool = True) -> None:
    """``RestClient.validate_response``: raise ``SchemaMismatch`` when it would fail."""
    if status not in _CHECKED:
        return
    if status not in found.schema["status_code"]:
        raise SchemaMismatch(
            f"{found.route} ({found.name}): status {status}, "
            f"Tempest expects {found.schema['status_code']}"
        )
    if found.name == "image status":
        return
    body_schema = found.schema.get("response_body")
    if body_schema:
        try:
            jsonschema.validate(
                body, body_schema, cls=JSONSCHEMA_VALIDATOR, format_checker=FORMAT_CHECKER
            )
        except jsonschema.ValidationError as exc:
            where = "/".join(str(p) for p in exc.absolute_path) or "<body>"
            raise SchemaMismatch(
                f"{found.route} ({found.name}): body invalid at {where}: {exc.message}"
            ) from None
    elif body and has_body:
        raise SchemaMismatch(f"{found.route} ({found.name}): body should be empty, got {body!r}")


def validate(
    method: str,
    path: str,
    microversion: str | None,
    status: int,
    body: Any,
    request_body: Any = None,
) -> Found | str:
    """Find the schema and check the response; returns what was used or why it was skipped."""
    if status not in _CHECKED:
        return f"status {status}: Tempest validates only 2xx/3xx responses"
    found = find(method, path, microversion, request_body, body)
    if isinstance(found, Found):
        check(found, status, body)
    return found


# ---------------------------------------------------------------- httpx glue

_MV_HEADER = re.compile(r"compute\s+(\d+\.\d+)", re.IGNORECASE)


def microversion_of(headers: Any) -> str | None:
    """The compute microversion a response (or request) names, if any."""
    for key in ("OpenStack-API-Version", "X-OpenStack-Nova-API-Version"):
        value = headers.get(key)
        if value:
            m = _MV_HEADER.search(value)
            if m:
                return m.group(1)
            if re.fullmatch(r"\d+\.\d+", value.strip()):
                return str(value.strip())
    return None


def decode(content: bytes, content_type: str) -> Any:
    """The JSON body, ``None`` when empty; raw bytes (not validated) when not JSON."""
    if not content:
        return None
    if "json" not in content_type:
        return content
    return json.loads(content)


async def response_hook(response: httpx.Response) -> None:
    """httpx response event hook: validate every compute/image response the tests see."""
    request = response.request
    path = request.url.path
    if not (path.startswith("/compute") or path.startswith("/image")):
        return  # identity, stock, ...: validated by nothing here (see SKIPPED_PREFIXES)
    if response.status_code not in _CHECKED:
        return
    await response.aread()
    try:
        request_body = decode(request.content, request.headers.get("content-type", ""))
    except (httpx.RequestNotRead, ValueError):
        request_body = None
    content_type = response.headers.get("content-type", "")
    body = decode(response.content, content_type)
    if isinstance(body, bytes):  # image data and such: status only
        found = find(request.method, path, None)
        if isinstance(found, Found):
            check(found, response.status_code, None, has_body=False)
        return
    mv = microversion_of(response.headers) or microversion_of(request.headers)
    result = validate(request.method, path, mv, response.status_code, body, request_body)
    if isinstance(result, Found):
        VALIDATED.append(f"{mv or '-'} {result.name}")
